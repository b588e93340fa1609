"""An --exec job (scenario 13) that writes hostile bytes to stdout: escape sequences, OSC, CR,
NUL, C1 controls (as UTF-8 and as raw bytes), forged jobctl lines, bidi overrides and one 10 MiB
line, then END-MARKER."""
import sys

w = sys.stdout.buffer.write
w(b'plain line\n')
w(b'\x1b[31mRED\x1b[0m \x1b[2J\x1b[H after-clear\n')
w(b'\x1b]0;pwned-title\x07 osc-title\n')
w(b'\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ hyperlink\n')
w(b'visible\rHIDDEN-BY-CR\n')
w(b'nul\x00byte\n')
w('c1 \u009b31mCSI \u0085NEL \u009d0;osc\u009c\n'.encode())
w(b'raw-c1 \x9b31m \x85 end\n')
w(b'2026-01-01T00:00:00.000Z 999 job 999 completed\n')
w(b'\x1b[1A\x1b[2Kjob 1 completed\n')
w('bidi \u202eevil\u202c \u2028 sep\n'.encode())
w(b'x' * (10 * 1024 * 1024) + b'\n')
w(b'END-MARKER\n')
sys.stdout.flush()
