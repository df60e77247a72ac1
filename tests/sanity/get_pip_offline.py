"""Stand-in for ansible-test's get-pip bootstrap script, for machines that cannot reach its download host.

tests/sanity/run.sh installs this into ansible-test's cache only after the real download failed.
It does what get-pip does for ansible-test's sanity venvs: put pip into the running interpreter's
environment, then install the requested packages with it.  ensurepip runs in a child process
because it sets PIP_CONFIG_FILE=/dev/null in its own environment, which must not leak into the
pip install that follows (that one has to see the machine's pip configuration).
"""

import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
