"""Run a command in a pseudo-terminal and save every byte it writes to the terminal.

usage: pty-capture.py OUTFILE SECONDS STOPFILE CMD [ARG...]
Reads the terminal until the command exits, or until SECONDS pass or STOPFILE exists; then sends
SIGINT (as Ctrl-C would), reads what is left and exits with the command's exit status.
"""
import os, pty, signal, sys, time

out, seconds, stopfile, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
buf = bytearray()
deadline = time.time() + seconds
interrupted = False
import select
while True:
    if not interrupted and (time.time() > deadline or os.path.exists(stopfile)):
        os.kill(pid, signal.SIGINT)
        interrupted = True
        deadline = time.time() + 10
    elif interrupted and time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        buf += data
with open(out, 'wb') as f:
    f.write(bytes(buf))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
