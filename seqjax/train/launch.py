"""Starts one command as several JAX processes on this machine, joined by ``distributed.initialize``.

    python -m seqjax.train.launch --processes=2 --local_devices=2 -- python -m experiments.char_lm --distributed=true

Each process gets ``JAX_COORDINATOR_ADDRESS`` (127.0.0.1 and a free port), ``JAX_NUM_PROCESSES``,
``JAX_PROCESS_ID`` and, for CPU runs, ``SEQJAX_LOCAL_DEVICES``; ``distributed.initialize()`` reads
them. Process 0 prints as usual, the others' lines are prefixed ``[p<i>]`` (when the output is not a
terminal, process 0's lines are relayed too, so that no two lines are mixed). If one process
fails, the others are stopped and the launcher exits with its status; Ctrl-C stops them all.

This is the one-machine way to try a multi-host run (and how the tests run one). On a cluster the
scheduler starts the processes instead: under SLURM, ``srun`` runs the same command once per task
and JAX reads the task's rank from SLURM's variables; on a Cloud TPU pod slice, the command runs
on every host (``gcloud ... tpu-vm ssh --worker=all``) and JAX finds the slice by itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time


class Stopped(Exception):
    """The launcher was told to stop (SIGTERM): its processes are stopped and it exits with ``status``."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _relay(stream, prefix: str, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(prefix + line)
        out.flush()


def launch(command: list[str], processes: int, *, local_devices: int | None = None, coordinator: str | None = None,
           env: dict | None = None, timeout_s: float | None = None) -> int:
    """Runs ``command`` as ``processes`` processes; returns the first non-zero exit status (128 + the signal
    for a process killed by one, as a shell reports it), else 0."""
    if not command:
        raise ValueError("launch: give the command to run after --, e.g. -- python -m experiments.char_lm --distributed=true")
    if processes < 1:
        raise ValueError(f"launch: --processes must be >= 1, got {processes}")
    coordinator = coordinator or f"127.0.0.1:{free_port()}"
    children, relays = [], []
    status = 0
    try:
        for index in range(processes):
            child_env = {**(env if env is not None else os.environ), "JAX_COORDINATOR_ADDRESS": coordinator,
                         "JAX_NUM_PROCESSES": str(processes), "JAX_PROCESS_ID": str(index)}
            if local_devices is not None:
                child_env["SEQJAX_LOCAL_DEVICES"] = str(local_devices)
            piped = index > 0 or not sys.stdout.isatty()  # relayed whole lines never interleave; a terminal keeps process 0's progress bar
            child = subprocess.Popen(command, env=child_env, text=True, stdout=subprocess.PIPE if piped else None,
                                     stderr=subprocess.STDOUT if piped else None)
            if piped:
                relay = threading.Thread(target=_relay, args=(child.stdout, f"[p{index}] " if index else "", sys.stdout), daemon=True)
                relay.start()
                relays.append(relay)
            children.append(child)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while [c.poll() for c in children].count(None):  # polls every child (any() would stop at the first)
            failed = [c.returncode for c in children if c.returncode not in (None, 0)]
            if failed or (deadline is not None and time.monotonic() > deadline):
                status = failed[0] if failed else 124
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        status = 130
    except Stopped as stopped:
        status = stopped.status
    finally:
        _stop(children)
        for relay in relays:  # the last lines of every process
            relay.join(timeout=5)
    status = status or next((c.returncode for c in children if c.returncode), 0)
    return 128 - status if status < 0 else status  # killed by a signal: the shell's 128 + signal number


def _stop(children, grace_s: float = 10.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    options = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m seqjax.train.launch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="how many processes (default 2)")
    parser.add_argument("--local_devices", type=int, default=None, help="CPU host devices per process (default: 1)")
    parser.add_argument("--coordinator", default=None, help="host:port of process 0 (default: 127.0.0.1 and a free port)")
    args = parser.parse_args(options)
    if args.processes < 1 or (args.local_devices is not None and args.local_devices < 1):
        parser.error(f"--processes and --local_devices must be >= 1, got {args.processes} and {args.local_devices}")
    if not command:
        parser.error("give the command after --, e.g. -- python -m experiments.char_lm --distributed=true")

    def stop(signum, frame):  # a scheduler's SIGTERM stops the processes too, never leaves them running
        raise Stopped(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    return launch(command, args.processes, local_devices=args.local_devices, coordinator=args.coordinator)


if __name__ == "__main__":
    sys.exit(main())
