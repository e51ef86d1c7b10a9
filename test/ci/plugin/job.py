# A Buildkite job's environment, as the agent keeps it between hooks (buildkite/agent
# internal/job/hook/wrapper.go, Changes): a JSON file of the job's variables; each hook runs in
# exactly that environment, and the difference between the wrapper's two env dumps (without
# BUILDKITE_HOOK_EXIT_STATUS, BUILDKITE_HOOK_WORKING_DIR and _) is applied to it afterwards. An
# empty after-dump means the hook exited early: the agent applies nothing (exit 3 here).
import json
import os
import sys

IGNORED = ("BUILDKITE_HOOK_EXIT_STATUS", "BUILDKITE_HOOK_WORKING_DIR", "_")


def load_env(path):
    """The job's environment: ENV_JSON, with the changes job_set (helpers.bash) queued in
    ENV_JSON.sets (NUL-separated: set NAME VALUE, or unset NAME) applied and written back."""
    env = json.load(open(path))
    queued = path + ".sets"
    if os.path.exists(queued):
        fields = open(queued, encoding="utf-8", errors="surrogateescape").read().split("\0")[:-1]
        i = 0
        while i < len(fields):
            if fields[i] == "set":
                env[fields[i + 1]] = fields[i + 2]
                i += 3
            else:
                env.pop(fields[i + 1], None)
                i += 2
        json.dump(env, open(path, "w"))
        os.remove(queued)
    return env


def dump(path):
    """An env dump of the stub agent (`env -0`) as a dict."""
    text = open(path, encoding="utf-8", errors="surrogateescape").read()
    return dict(entry.split("=", 1) for entry in text.split("\0") if entry != "")


def main():
    command = sys.argv[1]
    if command == "run":
        # job.py run ENV_JSON BASH_ARGS...: bash with the job's environment and nothing else.
        env = load_env(sys.argv[2])
        os.execve("/bin/bash", ["bash"] + sys.argv[3:], env)
    elif command == "apply":
        env_file, before_file, after_file, diff_file = sys.argv[2:6]
        after_text = open(after_file).read()
        if after_text == "":
            json.dump({"early_exit": True}, open(diff_file, "w"))
            sys.exit(3)
        before = dump(before_file)
        after = dump(after_file)
        diff = {
            "added": {k: v for k, v in after.items() if k not in before and k not in IGNORED},
            "changed": {k: v for k, v in after.items() if k in before and before[k] != v and k not in IGNORED},
            "removed": sorted(k for k in before if k not in after and k not in IGNORED),
        }
        env = load_env(env_file)
        env.update(diff["added"])
        env.update(diff["changed"])
        for k in diff["removed"]:
            env.pop(k, None)
        json.dump(env, open(env_file, "w"))
        json.dump(diff, open(diff_file, "w"))
    elif command == "get":
        # job.py get FILE KEY [KEY...]: the value at that path, or nothing (exit 1) when absent.
        value = load_env(sys.argv[2]) if sys.argv[2].endswith("env.json") else json.load(open(sys.argv[2]))
        for key in sys.argv[3:]:
            if not isinstance(value, dict) or key not in value:
                sys.exit(1)
            value = value[key]
        print(value if isinstance(value, str) else json.dumps(value))
    else:
        sys.exit(f"job.py: unknown command {command}")


main()
