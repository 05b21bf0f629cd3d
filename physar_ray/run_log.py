"""``run.log`` beside a run's outputs: what the driver logged (stages, skips, warnings), appended by every
invocation. An s3:// run folder gets it through a local file uploaded after each stage and at the end.
Worker and actor output stays in Ray's session logs (``/tmp/ray/session_latest/logs``); Ray also echoes
it to the driver's terminal."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from physar_ray import storage

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The CLI's log format (cli.main), so the file reads like the terminal."""


class RunLog:
    """The root logger's records, from INFO up, also go to the file ``uri`` (local or s3://) until :meth:`close`."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        if storage.is_s3(uri):
            self._tmp = tempfile.TemporaryDirectory(prefix="physar-log-")
            self.local = Path(self._tmp.name) / "run.log"
            if storage.exists(self.uri):  # appending: the earlier invocations' lines first
                self.local.write_bytes(storage.read_bytes(self.uri))
        else:
            self._tmp, self.local = None, Path(self.uri)
            self.local.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.local, mode="a", encoding="utf-8")
        self.handler.setLevel(logging.INFO)
        self.handler.setFormatter(logging.Formatter(FORMAT))
        logging.getLogger().addHandler(self.handler)
        physar = logging.getLogger("physar")
        if physar.getEffectiveLevel() > logging.INFO:  # called without the CLI's logging setup
            physar.setLevel(logging.INFO)

    def flush(self) -> None:
        """Write what was logged so far (s3://: upload the whole file, atomically)."""
        self.handler.flush()
        if self._tmp is not None:
            storage.write_bytes(self.uri, self.local.read_bytes())

    def close(self) -> None:
        self.flush()
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        if self._tmp is not None:
            self._tmp.cleanup()
