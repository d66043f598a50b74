"""Forwards what TensorFlow's native code writes to stderr, less its log records.

Run by ``aigc_cli.runtime.NativeLogFilter`` as ``python -I -S log_forwarder.py`` with
the pipe on stdin and the terminal on stdout: the standard library only, so that
nothing of the user's folder or environment is imported in its place.
"""

from __future__ import annotations

import os
import re
import signal

#: A C++ log record's first line: absl's ``E0000 00:00:1733.. 123 file.cc:967] ...``, the
#: older ``2024-01-01 12:00:00.123456: W tensorflow/...cc:12] ...``, and absl's notice
#: about logging before its initialisation. Fatal (F) records do not match: they pass.
NATIVE_LOG_RECORD = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w./+-]+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] [\w./+-]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)")


def forward_native_output(source: int = 0, terminal: int = 1) -> None:
    """The forwarder's loop (in its own process): ``source`` to ``terminal`` less native
    log records, until every writer of ``source`` has closed it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pending, in_record, writable = b"", False, True
    while chunk := os.read(source, 65536):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()  # a line not finished yet
        kept = []
        for line in lines:
            if NATIVE_LOG_RECORD.match(line):
                in_record = True
            elif not (in_record and line[:1] in (b" ", b"\t")):  # not its indented tail
                in_record = False
                kept.append(line + b"\n")
        if kept and writable:
            writable = _write_all(terminal, b"".join(kept))
    if pending and writable and not NATIVE_LOG_RECORD.match(pending):
        _write_all(terminal, pending)


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data``; False when ``fd`` cannot be written (a closed terminal)."""
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        return False
    return True


if __name__ == "__main__":
    forward_native_output()
