"""Take the README screenshots (overview, site view, alert centre) from a running instance.

    .venv/bin/python -m lookout.web.screenshots --url http://127.0.0.1:8080 --out docs/screenshots

Signs in (the demo's operator by default) in headless Chromium from Debian's package and
saves small PNGs at 1600×900 (palette-quantised when Pillow is present).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = (("overview", "/overview"), ("site", "/sites/{site}"), ("alerts", "/alerts"))


def _small_png(data: bytes) -> bytes:
    try:
        from PIL import Image
    except ImportError:
        return data
    img = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=128)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def take(url: str, out: Path, user: str, password: str, site: int = 1, lang: str = "zh",
         width: int = 1600, height: int = 900) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{url}/login?next=/overview")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_function("location.pathname === '/overview'")
        for name, path in SHOTS:
            page.goto(url + path.format(site=site) + ("?lang=en" if lang == "en" else ""))
            page.wait_for_load_state("load")
            page.wait_for_timeout(1200)  # maps and charts draw, the live socket connects
            target = out / (f"{name}.png" if lang == "zh" else f"{name}-{lang}.png")
            target.write_bytes(_small_png(page.screenshot(full_page=False)))
            saved.append(target)
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--user", default="operator")
    ap.add_argument("--password", default="lookout-demo")
    ap.add_argument("--site", type=int, default=1)
    ap.add_argument("--lang", choices=("zh", "en"), default="zh")
    a = ap.parse_args(argv)
    for p in take(a.url.rstrip("/"), a.out, a.user, a.password, a.site, a.lang):
        print(f"{p} ({p.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
