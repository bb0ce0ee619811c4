#!/usr/bin/env python3
"""The configuration of a running engram job, for the switch scripts (rollback_to_java.sh, roll_forward_to_zig.sh).

The job publishes the configuration it was built with as its global job parameters (io.engram.job.config.
PublishedConfig): GET /jobs/{id}/config returns them as execution-config.user-config, secrets replaced by <hidden>.
That map holds everything the submitting client knew: its config.yaml (the cluster's, for `flink run` on a cluster
host) plus every -D / REST flinkConfiguration setting. What the job was given on top of the cluster is that map minus
what GET /jobmanager/config (the cluster's configuration) already says, minus what only describes one submission
(DEPLOYMENT below). The switch resubmits exactly that with `flink run -D`, changing only what the operator asked for.

  resubmit --job USER_CONFIG.json --cluster CLUSTER_CONFIG.json [--set KEY=VALUE]... [--drop KEY]...
      prints the KEY=VALUE settings to resubmit, NUL-separated; explains on stderr; exit 3 when a setting is hidden
      (a secret) and no --set gives it, naming the keys.
  compare --before USER_CONFIG.json --after USER_CONFIG.json [--changed KEY]...
      exit 0 when the two jobs' settings are equal except DEPLOYMENT keys and the --changed ones; else prints the
      differences and exits 1.
  get --job USER_CONFIG.json KEY   prints the value of KEY ('' if unset).
"""
import argparse
import json
import sys

HIDDEN = "<hidden>"

# Settings of one submission, not of the job: where the client sent it, which jar and savepoint, how it waited, and
# the parallelism (the switch passes it with -p); and the ports of the cluster's processes.
DEPLOYMENT = {
    "execution.target", "execution.attached", "execution.shutdown-on-attached-exit", "execution.detached",
    "pipeline.jars", "pipeline.classpaths", "pipeline.job-id",
    "execution.state-recovery.path", "execution.state-recovery.claim-mode",
    "execution.state-recovery.ignore-unclaimed-state",
    "execution.savepoint.path", "execution.savepoint.ignore-unclaimed-state", "execution.savepoint-restore-mode",
    "parallelism.default",
    "jobmanager.rpc.address", "jobmanager.rpc.port", "blob.server.port",
}


def deployment(key):
    # rest.* and security.ssl.rest.*: how the client reached the cluster (`flink run -m` sets some of them);
    # metrics.reporter.*: the cluster processes' reporters (each has its own port), which no job can change.
    return (key in DEPLOYMENT or key.startswith("$internal.") or key.startswith("rest.")
            or key.startswith("security.ssl.rest.") or key.startswith("metrics.reporter."))


def load_user_config(path):
    """user-config of GET /jobs/{id}/config (the object itself, or the whole response)."""
    with open(path) as f:
        d = json.load(f)
    if isinstance(d, dict) and "execution-config" in d:
        d = d["execution-config"].get("user-config") or {}
    return {str(k): str(v) for k, v in d.items()}


def load_cluster_config(path):
    """GET /jobmanager/config: a list of {key, value}."""
    with open(path) as f:
        d = json.load(f)
    if isinstance(d, dict):
        return {str(k): str(v) for k, v in d.items()}
    return {str(e["key"]): str(e["value"]) for e in d}


def kv(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, got '%s'" % text)
    k, v = text.split("=", 1)
    return k.strip(), v


def resubmit(args):
    job = load_user_config(args.job)
    cluster = load_cluster_config(args.cluster)
    sets = dict(args.set or [])
    drops = set(args.drop or [])
    if not job:
        print("the job publishes no configuration (GET /jobs/<id>/config has no user-config): it was not built by "
              "this engram-flink version, or not by engram-flink", file=sys.stderr)
        return 4
    out = {}
    same = 0
    for k, v in sorted(job.items()):
        if deployment(k) or k in drops:
            continue
        if k in cluster and (cluster[k] == v or (v == HIDDEN and cluster[k].startswith("****"))):
            same += 1  # the cluster's own setting: it applies again by itself
            continue
        out[k] = v
    missing = sorted(k for k, v in out.items() if v == HIDDEN and k not in sets)
    out.update(sets)
    if missing:
        print("hidden settings (secrets) of the running job that the switch cannot read back: "
              + ", ".join(missing) + ". Give each again with --conf KEY=VALUE.", file=sys.stderr)
        return 3
    print("%d settings of the job beyond the cluster's configuration, %d equal to the cluster's, %d given now"
          % (len(out) - len(sets), same, len(sets)), file=sys.stderr)
    sys.stdout.write("".join("%s=%s\0" % (k, v) for k, v in sorted(out.items())))
    return 0


def compare(args):
    before = load_user_config(args.before)
    after = load_user_config(args.after)
    changed = set(args.changed or [])
    diffs = []
    for k in sorted(set(before) | set(after)):
        if deployment(k) or k in changed:
            continue
        if before.get(k) != after.get(k):
            diffs.append("%s: %s -> %s" % (k, before.get(k, "(unset)"), after.get(k, "(unset)")))
    if diffs:
        print("configuration differs: " + "; ".join(diffs))
        return 1
    kept = [k for k in before if not deployment(k) and k not in changed]
    print("%d settings kept" % len(kept))
    return 0


def get(args):
    print(load_user_config(args.job).get(args.key, ""))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resubmit")
    r.add_argument("--job", required=True)
    r.add_argument("--cluster", required=True)
    r.add_argument("--set", type=kv, action="append")
    r.add_argument("--drop", action="append")
    c = sub.add_parser("compare")
    c.add_argument("--before", required=True)
    c.add_argument("--after", required=True)
    c.add_argument("--changed", action="append")
    g = sub.add_parser("get")
    g.add_argument("--job", required=True)
    g.add_argument("key")
    args = p.parse_args()
    return {"resubmit": resubmit, "compare": compare, "get": get}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
