# A Buildkite job's environment, as the agent keeps it between hooks (buildkite/agent
# internal/job/hook/wrapper.go, Changes): a JSON file of the job's variables; each hook runs in
# exactly that environment, and the difference between the wrapper's two env dumps (without
# BUILDKITE_HOOK_EXIT_STATUS, BUILDKITE_HOOK_WORKING_DIR and _) is applied to it afterwards. An
# empty after-dump means the hook exited early: the agent applies nothing (exit 3 here).
import json
import os
import sys

IGNORED = ("BUILDKITE_HOOK_EXIT_STATUS", "BUILDKITE_HOOK_WORKING_DIR", "_")


def main():
    command = sys.argv[1]
    if command == "run":
        # job.py run ENV_JSON BASH_ARGS...: bash with the job's environment and nothing else.
        env = json.load(open(sys.argv[2]))
        os.execve("/bin/bash", ["bash"] + sys.argv[3:], env)
    elif command == "apply":
        env_file, before_file, after_file, diff_file = sys.argv[2:6]
        after_text = open(after_file).read()
        if after_text == "":
            json.dump({"early_exit": True}, open(diff_file, "w"))
            sys.exit(3)
        before = json.load(open(before_file))
        after = json.loads(after_text)
        diff = {
            "added": {k: v for k, v in after.items() if k not in before and k not in IGNORED},
            "changed": {k: v for k, v in after.items() if k in before and before[k] != v and k not in IGNORED},
            "removed": sorted(k for k in before if k not in after and k not in IGNORED),
        }
        env = json.load(open(env_file))
        env.update(diff["added"])
        env.update(diff["changed"])
        for k in diff["removed"]:
            env.pop(k, None)
        json.dump(env, open(env_file, "w"))
        json.dump(diff, open(diff_file, "w"))
    elif command == "get":
        # job.py get FILE KEY [KEY...]: the value at that path, or nothing (exit 1) when absent.
        value = json.load(open(sys.argv[2]))
        for key in sys.argv[3:]:
            if not isinstance(value, dict) or key not in value:
                sys.exit(1)
            value = value[key]
        print(value if isinstance(value, str) else json.dumps(value))
    elif command == "set":
        # job.py set ENV_JSON NAME VALUE (or NAME alone: unset)
        env = json.load(open(sys.argv[2]))
        if len(sys.argv) > 4:
            env[sys.argv[3]] = sys.argv[4]
        else:
            env.pop(sys.argv[3], None)
        json.dump(env, open(sys.argv[2], "w"))
    else:
        sys.exit(f"job.py: unknown command {command}")


main()
