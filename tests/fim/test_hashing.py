"""The hashing threads read every byte, never block on a FIFO, never follow a swapped link."""

import hashlib
import os
from pathlib import Path

import pytest

from rampart.fim.hashing import BUFFER_SIZE, FileHasher, HashError, HashPool


@pytest.mark.parametrize(
    "size", [0, 1, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1, 3 * BUFFER_SIZE]
)
def test_sha256_of_every_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    hashed = FileHasher("sha256").hash(str(path), size)
    assert hashed.digest == hashlib.sha256(data).digest()
    assert hashed.st is not None and hashed.st.st_size == size


def test_blake3_matches_the_reference(tmp_path: Path) -> None:
    blake3 = pytest.importorskip("blake3")
    data = os.urandom(9 << 20)  # above the size blake3 hashes with several threads
    path = tmp_path / "big"
    path.write_bytes(data)
    assert FileHasher("blake3").hash(str(path), len(data)).digest == blake3.blake3(data).digest()


def test_a_fifo_or_a_link_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes: a blocking open would hang the test
    link = tmp_path / "link"
    link.symlink_to("/etc/passwd")
    hasher = FileHasher("sha256")
    assert hasher.hash(str(fifo), 0).error == "no longer a regular file"
    assert hasher.hash(str(link), 0).error == "replaced by a symbolic link"
    assert hasher.hash(str(tmp_path / "gone"), 0).error == "vanished"
    assert hasher.hashed_files == 0


def test_small_contents_are_kept_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "conf"
    path.write_text("a = 1\n")
    hasher = FileHasher("sha256")
    assert hasher.hash(str(path), 6, keep_up_to=100).content == b"a = 1\n"
    assert hasher.hash(str(path), 6, keep_up_to=3).content is None
    assert hasher.hash(str(path), 6).content is None


def test_the_pool_returns_every_file(tmp_path: Path) -> None:
    paths = []
    for number in range(300):
        path = tmp_path / f"f{number}"
        path.write_text(str(number))
        paths.append(path)
    hasher = FileHasher("sha256")
    pool = HashPool(hasher, 3)
    for path in paths:
        pool.add(str(path), 3)
    results = {result.path: result.digest for result in pool.results()}
    assert results == {str(p): hashlib.sha256(p.read_bytes()).digest() for p in paths}
    assert hasher.hashed_files == 300


def test_unknown_algorithm() -> None:
    with pytest.raises(HashError):
        FileHasher("md4")
