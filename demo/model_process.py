"""The demo's model in a process of its own, started by app.py before anything else.

Why a process: gradio takes about 4.6 s to import on 2 CPU cores, and the model (torch, transformers, epir_hf,
matplotlib and the checkpoint) about 7 s more. In one process they load one after the other, a thread would not help
(imports hold the GIL); in two, they load at once on two cores and the first answer comes about 5 s sooner. Only
plain data crosses between the two (numpy arrays, strings, numbers), so the page's process never imports the model's
packages.

app.py holds a `ModelProcess`; this file, run as a script, is the other side: it connects back to app.py's listener
(its address and key are in the environment), loads `answers.Answers`, says whether that worked, and then runs one
request at a time until app.py closes the connection or exits.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

ADDRESS_ENV, KEY_ENV = "EPIR_DEMO_MODEL_ADDRESS", "EPIR_DEMO_MODEL_KEY"
LOADING_ERRORS = (OSError, ValueError, ImportError)
"""What a missing or unreadable checkpoint raises (FileNotFoundError, transformers' OSError and ValueError)."""
INPUT_ERRORS = (ValueError, FileNotFoundError)
"""What the pipelines raise, in one line, about a bad input: shown on the page as it is."""


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is one line."""


class ModelProcess:
    """app.py's side: the process is started at construction; `call(name, *args)` runs `Answers.<name>(*args)` in it
    and returns its result, raising ValueError with the pipeline's message for a bad input."""

    def __init__(self) -> None:
        key = secrets.token_bytes(32)
        self._listener = Listener(authkey=key)  # a Unix socket, or a named pipe on Windows
        env = {**os.environ, ADDRESS_ENV: self._listener.address, KEY_ENV: key.hex()}
        self._process = subprocess.Popen([sys.executable, __file__], env=env)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._loaded: str | None = None  # "" once loaded, else why it could not be
        # Accepted at once, in the background: the process's handshake waits for it, and it loads only after that.
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, name="epir-demo-model-accept", daemon=True).start()

    def wait(self) -> None:
        """Until the model has loaded; ModelLoadError if it could not."""
        with self._lock:
            self._wait()

    def call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._wait()
            self._connection.send((name, args))
            status, value = self._receive()
        if status == "input":
            raise ValueError(value)
        if status == "error":
            raise RuntimeError(f"the model's process failed:\n{value}")
        return value

    def close(self) -> None:
        """Ends the process, loaded or not (it holds nothing to keep)."""
        with self._lock:
            self._process.terminate()
            self._process.wait()
            if self._accepted.is_set():
                self._connection.close()
            self._listener.close()

    def _accept(self) -> None:
        try:
            self._connection = self._listener.accept()  # the process connects first, before it loads anything
        except OSError:  # closed before the process connected: nothing will wait for it
            return
        self._accepted.set()

    def _wait(self) -> None:
        if self._loaded is None:
            while not self._accepted.wait(timeout=1.0):
                if self._process.poll() is not None:
                    raise ModelLoadError(f"the model's process ended before it started (exit status "
                                         f"{self._process.returncode})")
            status, value = self._receive()
            self._loaded = "" if status == "ready" else value
        if self._loaded:
            raise ModelLoadError(self._loaded)

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the model's process ended (exit status {self._process.wait()})") from None


def serve(connection: Connection) -> None:
    """The process's side: load the model, say so, then answer requests until the connection closes."""
    try:
        from answers import Answers

        answers = Answers()
    except LOADING_ERRORS as error:
        connection.send(("failed", str(error)))
        return
    connection.send(("ready", None))
    while True:
        try:
            name, args = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", getattr(answers, name)(*args)))
        except INPUT_ERRORS as error:
            connection.send(("input", str(error)))
        except Exception:  # anything else is reported to the page, and the process goes on with the next request
            connection.send(("error", traceback.format_exc()))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is app.py's; this process ends when app.py's connection does
    try:
        with Client(os.environ[ADDRESS_ENV], authkey=bytes.fromhex(os.environ[KEY_ENV])) as link:
            serve(link)
    except OSError:  # app.py has gone (connection refused or broken): nobody is left to answer
        pass
