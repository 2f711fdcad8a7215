"""``rampart firewall plan | apply | confirm``: the ``[firewall]`` policy, safely applied."""

import argparse
from typing import Any


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "firewall",
        help="host firewall from [firewall] in rampart.toml (nftables)",
        description="Compile the [firewall] policy to nftables table inet rampart_fw.",
    )
    actions = parser.add_subparsers(dest="firewall_command", metavar="ACTION", required=True)
    netns_help = "work inside this network namespace (tests, containers)"
    backend_help = "nftables (table inet rampart_fw) or iptables (iptables-restore, no nftables)"

    show = actions.add_parser("plan", help="print the nft batch and its difference from now")
    show.add_argument("--netns", metavar="NAME", help=netns_help)
    show.add_argument(
        "--backend", choices=("nftables", "iptables"), default="nftables", help=backend_help
    )
    show.set_defaults(handler=run_plan)

    apply = actions.add_parser("apply", help="load the policy (one atomic nft batch)")
    apply.add_argument(
        "--confirm-within",
        type=float,
        metavar="SECONDS",
        help="roll back after SECONDS unless 'rampart firewall confirm' runs first",
    )
    apply.add_argument(
        "--force", action="store_true", help="apply even if it drops an open SSH session"
    )
    apply.add_argument("--netns", metavar="NAME", help=netns_help)
    apply.add_argument(
        "--backend", choices=("nftables", "iptables"), default="nftables", help=backend_help
    )
    apply.set_defaults(handler=run_apply)

    keep = actions.add_parser("confirm", help="keep the applied policy (cancel the rollback)")
    keep.set_defaults(handler=run_confirm)


def run_plan(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.firewall.apply import effective_policy, plan

    settings = load_settings(args.config)
    policy = effective_policy(settings.firewall, settings.state_dir)
    if args.backend == "iptables":
        from rampart.firewall import policy_iptables

        shown = policy_iptables.plan(policy, netns=args.netns)
        print("".join(shown.texts.values()), end="")
        print(shown.diff or "# no change from the live rules", end="\n" if not shown.diff else "")
        return 0
    result = plan(policy, netns=args.netns)
    print(result.text, end="")
    print(result.diff or "# no change from the live table", end="\n" if not result.diff else "")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.firewall.apply import apply, effective_policy

    settings = load_settings(args.config)
    policy = effective_policy(settings.firewall, settings.state_dir)
    if args.backend == "iptables":
        from rampart.firewall import policy_iptables

        policy_iptables.apply(
            policy,
            settings.state_dir,
            confirm_within=args.confirm_within,
            force=args.force,
            netns=args.netns,
        )
    else:
        apply(
            policy,
            settings.state_dir,
            confirm_within=args.confirm_within,
            force=args.force,
            netns=args.netns,
        )
    if args.confirm_within is None:
        backend = " (iptables)" if args.backend == "iptables" else ""
        print(f"rampart firewall: policy applied{backend}")
    else:
        print(
            f"rampart firewall: policy applied; it is rolled back in {args.confirm_within:g} s"
            " unless you run 'rampart firewall confirm'"
        )
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.firewall.apply import confirm

    confirm(load_settings(args.config).state_dir)
    print("rampart firewall: policy kept")
    return 0
