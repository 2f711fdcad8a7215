/* The few PCRE2 declarations rampart's native parts use, and their loader.
 *
 * PCRE2 is loaded with dlopen from the runtime library every Debian has
 * (libpcre2-8.so.0), so building needs no -dev package. The values below are
 * pcre2.h's, a stable ABI. Included by rampart/detect/_native.c and
 * rampart/hids/_native.c; each gets its own static copy of P2.
 */
#ifndef RAMPART_PCRE2_H
#define RAMPART_PCRE2_H

#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>

typedef struct pcre2_real_code_8 pcre2_code;
typedef struct pcre2_real_match_data_8 pcre2_match_data;
typedef struct pcre2_real_compile_context_8 pcre2_compile_context;
typedef size_t PCRE2_SIZE;
typedef const unsigned char *PCRE2_SPTR;
#define P2_ANCHORED 0x80000000u
#define P2_ENDANCHORED 0x20000000u
#define P2_JIT_COMPLETE 0x00000001u
#define P2_NEWLINE_LF 2u
#define P2_ERROR_NOMATCH (-1)
#define P2_UNSET (~(PCRE2_SIZE)0)
#define P2_INFO_CAPTURECOUNT 4u

static struct {
    pcre2_code *(*compile)(PCRE2_SPTR, PCRE2_SIZE, uint32_t, int *, PCRE2_SIZE *,
                           pcre2_compile_context *);
    pcre2_compile_context *(*ccontext_create)(void *);
    void (*ccontext_free)(pcre2_compile_context *);
    int (*set_newline)(pcre2_compile_context *, uint32_t);
    int (*jit_compile)(pcre2_code *, uint32_t);
    pcre2_match_data *(*md_create)(uint32_t, void *);
    void (*md_free)(pcre2_match_data *);
    int (*match)(const pcre2_code *, PCRE2_SPTR, PCRE2_SIZE, PCRE2_SIZE, uint32_t,
                 pcre2_match_data *, void *);
    PCRE2_SIZE *(*ovector)(pcre2_match_data *);
    int (*number_from_name)(const pcre2_code *, PCRE2_SPTR);
    void (*code_free)(pcre2_code *);
    int (*error_message)(int, unsigned char *, PCRE2_SIZE);
    int (*pattern_info)(const pcre2_code *, uint32_t, void *);
    void *(*mcontext_create)(void *);
    void (*mcontext_free)(void *);
    void *(*jit_stack_create)(size_t, size_t, void *);
    void (*jit_stack_free)(void *);
    void (*jit_stack_assign)(void *, void *, void *);
} P2;

static int load_pcre2(void) {
    void *lib = dlopen("libpcre2-8.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        PyErr_Format(PyExc_ImportError, "cannot load libpcre2-8.so.0: %s", dlerror());
        return -1;
    }
#define LOAD(field, name)                                                                    \
    do {                                                                                     \
        *(void **)(&P2.field) = dlsym(lib, name);                                            \
        if (P2.field == NULL) {                                                              \
            PyErr_Format(PyExc_ImportError, "libpcre2-8.so.0 lacks %s", name);               \
            return -1;                                                                       \
        }                                                                                    \
    } while (0)
    LOAD(compile, "pcre2_compile_8");
    LOAD(ccontext_create, "pcre2_compile_context_create_8");
    LOAD(ccontext_free, "pcre2_compile_context_free_8");
    LOAD(set_newline, "pcre2_set_newline_8");
    LOAD(jit_compile, "pcre2_jit_compile_8");
    LOAD(md_create, "pcre2_match_data_create_8");
    LOAD(md_free, "pcre2_match_data_free_8");
    LOAD(match, "pcre2_match_8");
    LOAD(ovector, "pcre2_get_ovector_pointer_8");
    LOAD(number_from_name, "pcre2_substring_number_from_name_8");
    LOAD(code_free, "pcre2_code_free_8");
    LOAD(error_message, "pcre2_get_error_message_8");
    LOAD(pattern_info, "pcre2_pattern_info_8");
    LOAD(mcontext_create, "pcre2_match_context_create_8");
    LOAD(mcontext_free, "pcre2_match_context_free_8");
    LOAD(jit_stack_create, "pcre2_jit_stack_create_8");
    LOAD(jit_stack_free, "pcre2_jit_stack_free_8");
    LOAD(jit_stack_assign, "pcre2_jit_stack_assign_8");
#undef LOAD
    return 0;
}

#endif /* RAMPART_PCRE2_H */
