"""Send one ipmi_sim emulation command (ipmi_sim_cmd(5)) to the simulator's console and print its echo.

A test double helper for molecule/guard: lan.conf opens the console on 127.0.0.1:9000.
Closing the connection leaves the simulator running ("quit" would stop it).

    python3 /usr/local/lib/ktune_bmc_console.py sensor_set_value 0x20 0 2 84 0
"""

import socket
import sys
import time


def main(argv):
    command = " ".join(argv).strip()
    if not command or command.split()[0] == "quit":
        sys.exit("usage: ktune_bmc_console.py COMMAND ARGS... (not quit)")
    with socket.create_connection(("127.0.0.1", 9000), timeout=10) as console:
        console.recv(4096)  # telnet negotiation and the "> " prompt
        console.sendall(command.encode() + b"\n")
        answer, deadline = b"", time.monotonic() + 10
        while not answer.rstrip().endswith(b">") and time.monotonic() < deadline:
            answer += console.recv(4096)
    text = answer.decode("ascii", "replace").replace("\r", "")
    print(text.rsplit(">", 1)[0].strip())
    # ipmi_sim echoes the command; anything after it is its complaint.
    if text.replace(command, "", 1).strip(" \n>"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
