"""Screenshot report.html with headless Chromium: `python -m eval.screenshot REPORT.html OUT.png`."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, size: str = "1280,2000", timeout: float = 60.0) -> Path:
    """Render `html` headless and write a PNG of the first `size` pixels."""
    if CHROMIUM is None:
        raise FileNotFoundError("chromium is not installed; run `make browser`")
    with tempfile.TemporaryDirectory(prefix="rag-chromium-") as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={Path(png).resolve()}", f"--window-size={size}",
                        Path(html).resolve().as_uri()], check=True, capture_output=True, timeout=timeout)
    return Path(png)


if __name__ == "__main__":
    out = screenshot(Path(sys.argv[1]), Path(sys.argv[2]), *(sys.argv[3:4] or []))
    print(out)
