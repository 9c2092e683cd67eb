"""The book (`make book`, yt8m_lib/book.py): executed notebooks rendered as a static site.

A tiny notebook with a matplotlib figure (red bars) and a pandas table is executed with
papermill, as `make reproduce` does, into a build/-like folder (synthetic and real sets), next
to one whose run failed (papermill's output renamed NAME.failed.ipynb, as the Makefile does).
The book built from it is read as HTML, then opened page by page in headless Chromium: a probe
script in a copy of each page reports whether every image decoded, and a screenshot shows the
red bars drawn. Chromium absent skips those tests, unless YT8M_REQUIRE_CHROMIUM=1 (CI) makes
its absence a failure.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import numpy as np
import pytest

from yt8m_lib import book

pytestmark = pytest.mark.xdist_group("book")

CHROMIUM = Path("/usr/bin/chromium")
TABLE_MARKER = "tiny-table-cell"
GOOD = "01_tiny_chapter"
FAILS = "02_fails"


def tiny_notebook():
    cells = [
        nbformat.v4.new_markdown_cell("# 01 · A tiny chapter\n\nOne figure and one table."),
        nbformat.v4.new_code_cell("bars = 3", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "import pandas as pd\n"
            "fig, ax = plt.subplots(figsize=(5, 3), dpi=80)\n"
            "ax.bar(range(bars), range(1, bars + 1), color='#ff0000', width=0.9)\n"
            "ax.set_title('tiny figure')\n"
            "plt.show()"
        ),
        nbformat.v4.new_code_cell(
            f"pd.DataFrame({{'model': ['{TABLE_MARKER}', 'fc'], 'gap': [0.5, 0.75]}})"
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def failing_notebook():
    nb = tiny_notebook()
    nb.cells[0].source = "# 02 · A chapter that fails"
    nb.cells[2].source = "raise RuntimeError('boom in chapter 02')"
    return nb


def execute(papermill, nb, folder: Path, name: str, parameters) -> Path:
    """Run like the Makefile's run_notebook: NAME.running.ipynb, then NAME.ipynb or, when a cell
    fails, NAME.failed.ipynb."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder.parent / f"{name}.source.ipynb"
    nbformat.write(nb, source)
    running = folder / f"{name}.running.ipynb"
    try:
        papermill.execute_notebook(
            str(source),
            str(running),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=120,
        )
    except papermill.PapermillExecutionError:
        return running.rename(folder / f"{name}.failed.ipynb")
    return running.rename(folder / f"{name}.ipynb")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """build/synthetic/smoke/{01 ok, 02 failed} and build/real/smoke/01 (a copy of the same
    executed notebook: what matters here is the set it sits in)."""
    papermill = pytest.importorskip("papermill")
    root = tmp_path_factory.mktemp("book")
    build = root / "build"
    synthetic = build / "synthetic" / "smoke"
    with ThreadPoolExecutor(2) as pool:  # two kernels side by side: the start-up dominates
        good = pool.submit(execute, papermill, tiny_notebook(), synthetic, GOOD, {"bars": 4})
        failed = pool.submit(execute, papermill, failing_notebook(), synthetic, FAILS, {})
        good, failed = good.result(), failed.result()
    assert good.name == f"{GOOD}.ipynb" and failed.name == f"{FAILS}.failed.ipynb"
    real = build / "real" / "smoke"
    real.mkdir(parents=True)
    shutil.copy2(good, real / good.name)
    return build


@pytest.fixture(scope="module")
def built(executed, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "book"
    result = book.build_book(executed, out, log=io.StringIO())
    return result, out


class Links(HTMLParser):
    """Anchors, images and tables of a page."""

    def __init__(self):
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.tables = 0
        self._href = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self._href, self._text = attrs["href"], ""
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables += 1
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if tag != "a" and re.match(r"(https?:)?//", value):
                self.external.append(f"<{tag} {key}={value}>")

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, self._text.strip()))
            self._href = None


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def decode_png(src: str) -> np.ndarray:
    import matplotlib.image

    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"image not embedded: {src[:60]}"
    data = base64.b64decode(src[len(prefix) :])
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def red_fraction(pixels: np.ndarray) -> float:
    rgb = pixels[..., :3]
    if rgb.dtype != np.uint8:
        rgb = (rgb * 255).round()
    return float(np.mean((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)))


# ------------------------------------------------------------------ the site, as HTML


@pytest.mark.slow
def test_index_links_every_chapter_page_in_order_with_its_title_and_set(built):
    result, out = built
    assert result.index == out / "index.html"
    pages = [c.page for c in result.chapters]
    # the real set comes first, then the synthetic one; the failed notebook has no page
    assert pages == [f"real/smoke/{GOOD}.html", f"synthetic/smoke/{GOOD}.html"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) == sorted(
        ["index.html", *pages]
    )
    index = parse(out / "index.html")
    chapter_links = [(href, text) for href, text in index.anchors if href.endswith(".html")]
    assert chapter_links == [(page, "01 · A tiny chapter") for page in pages]
    text = (out / "index.html").read_text(encoding="utf-8")
    assert text.index("Real data (profile") < text.index("Synthetic data (profile")


@pytest.mark.slow
def test_each_page_holds_its_figure_as_a_decodable_png_and_its_table(built):
    result, out = built
    for chapter in result.chapters:
        page = out / chapter.page
        html = page.read_text(encoding="utf-8")
        parsed = parse(page)
        assert len(parsed.images) == 1, f"{chapter.page}: {len(parsed.images)} images"
        pixels = decode_png(parsed.images[0])
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert red_fraction(pixels) > 0.05, "the figure's red bars are not in the image"
        assert parsed.tables == 1 and TABLE_MARKER in html, f"{chapter.page}: no table"
        # the page says which data it shows, and the parameters it ran with
        label = "Real data" if chapter.set_name == "real" else "Synthetic data"
        assert f'data-set="{chapter.set_name}"' in html and label in html
        assert "bars = 4" in html
        # back to the index, and nothing fetched from the network (works from file://)
        assert any(href == "../../index.html" for href, _ in parsed.anchors)
        assert not parsed.external, f"{chapter.page} loads {parsed.external}"
        assert "<script src" not in html


@pytest.mark.slow
def test_a_failed_notebook_is_left_out_and_named_on_the_index_and_stderr(executed, tmp_path):
    log = io.StringIO()
    result = book.build_book(executed, tmp_path / "book", log=log)
    assert [x.name for x in result.left_out] == [FAILS]
    assert "boom in chapter 02" in result.left_out[0].reason
    assert f"synthetic/smoke/{FAILS}" in log.getvalue() and "RuntimeError" in log.getvalue()
    index = (tmp_path / "book" / "index.html").read_text(encoding="utf-8")
    assert f"synthetic/smoke/{FAILS}" in index and "RuntimeError" in index
    assert "02 · A chapter that fails" not in index
    assert not list((tmp_path / "book").rglob(f"{FAILS}*"))


@pytest.mark.slow
def test_stale_and_erroring_copies_are_left_out_too(executed, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(executed, build)
    folder = build / "synthetic" / "smoke"
    failed = folder / f"{FAILS}.failed.ipynb"
    # a finished copy older than a later failed run is stale
    shutil.copy2(folder / f"{GOOD}.ipynb", folder / "03_stale.ipynb")
    shutil.copy2(failed, folder / "03_stale.failed.ipynb")
    os.utime(folder / "03_stale.ipynb", (1, 1))
    # a copy that holds an error output although named as finished
    shutil.copy2(failed, folder / "04_errors.ipynb")
    # a run still in progress (or killed)
    shutil.copy2(folder / f"{GOOD}.ipynb", folder / "05_busy.running.ipynb")
    result = book.build_book(build, tmp_path / "book", log=io.StringIO())
    reasons = {x.name: x.reason for x in result.left_out}
    assert set(reasons) == {FAILS, "03_stale", "04_errors", "05_busy"}
    assert "stale" in reasons["03_stale"] and "error" in reasons["04_errors"]
    assert "running" in reasons["05_busy"]
    assert [c.name for c in result.chapters] == [GOOD, GOOD]


@pytest.mark.slow
def test_command_line_prints_the_index_and_strict_fails_on_a_left_out_notebook(
    executed, tmp_path, capsys
):
    out = tmp_path / "site"
    assert book.main(["--build", str(executed), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert str(out / "index.html") in captured.out and "2 chapters" in captured.out
    assert FAILS in captured.err
    assert book.main(["--build", str(executed), "--out", str(out), "--strict"]) == 1


def test_an_empty_build_folder_names_what_to_run(tmp_path, capsys):
    (tmp_path / "build" / "synthetic" / "smoke").mkdir(parents=True)
    with pytest.raises(book.BookError) as error:
        book.build_book(tmp_path / "build", tmp_path / "book", log=io.StringIO())
    message = str(error.value)
    assert "make reproduce" in message and "make reproduce PROFILE=smoke" in message
    assert not (tmp_path / "book").exists()
    assert book.main(["--build", str(tmp_path / "nothing-here")]) == 2
    assert "make reproduce PROFILE=smoke" in capsys.readouterr().err


def test_only_failed_notebooks_is_an_error_that_names_them(tmp_path):
    folder = tmp_path / "build" / "real" / "real"
    folder.mkdir(parents=True)
    nb = failing_notebook()
    nb.cells[2].outputs = [
        nbformat.v4.new_output("error", ename="ValueError", evalue="bad shard", traceback=[])
    ]
    nbformat.write(nb, folder / "01_data.failed.ipynb")
    log = io.StringIO()
    with pytest.raises(book.BookError, match="1 left out"):
        book.build_book(tmp_path / "build", tmp_path / "book", log=log)
    assert "real/real/01_data" in log.getvalue() and "ValueError: bad shard" in log.getvalue()


@pytest.mark.slow
def test_a_rebuild_replaces_the_old_book_but_never_a_foreign_folder(executed, tmp_path):
    out = tmp_path / "book"
    book.build_book(executed, out, log=io.StringIO())
    (out / "synthetic" / "smoke" / "09_gone.html").write_text("an old page")
    book.build_book(executed, out, log=io.StringIO())
    assert not (out / "synthetic" / "smoke" / "09_gone.html").exists()
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(book.BookError, match="not a book"):
        book.build_book(executed, foreign, log=io.StringIO())
    assert (foreign / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------------ the site, in Chromium

# Reports, once the page has loaded: every image, whether it decoded and its drawn size; the
# tables; where each link points; the banner naming the data.
PROBE = """<script>
window.addEventListener("load", () => {
  const banner = document.querySelector(".book-banner");
  document.documentElement.dataset.probe = JSON.stringify({
    images: [...document.images].map((i) => ({
      complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
      shown: i.getBoundingClientRect().width,
    })),
    tables: document.querySelectorAll("table").length,
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
    banner: banner ? banner.dataset.set : null,
    title: document.title,
  });
});
</script>"""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1600",
]


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("YT8M_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"YT8M_REQUIRE_CHROMIUM=1 but {CHROMIUM} is absent (apt install chromium)")
        pytest.skip(f"{CHROMIUM} absent (apt install chromium; CI sets YT8M_REQUIRE_CHROMIUM=1)")
    return CHROMIUM


def run_chromium(profile: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish in 60 s: {args}")
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def probe_page(page: Path, profile: Path, served: tuple[Path, str] | None = None) -> dict:
    """Open a copy of ``page`` (same folder, so relative links and images resolve the same)
    with the probe script added, and return what the probe saw. ``served``: (site folder,
    its http:// address) to open it from a server instead of from disk."""
    copy = page.with_name(f".probe.{page.name}")
    copy.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    if served is None:
        url = copy.as_uri()
    else:
        url = f"{served[1]}/{copy.relative_to(served[0]).as_posix()}"
    try:
        dom = run_chromium(profile, "--dump-dom", url)
    finally:
        copy.unlink()
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"{page.name}: the page did not finish loading in Chromium:\n{dom[:500]}"
    import html

    return json.loads(html.unescape(found[1]))


def check_book_in_chromium(out: Path, profile: Path, expected_chapters: int | None) -> dict:
    """Open the index and every chapter page it links; return {page: probe}. Also checks a
    book built from real runs (YT8M_BOOK_DIR, below)."""
    seen = {}
    index = probe_page(out / "index.html", profile / "index")
    chapter_pages = [
        Path(href.removeprefix("file://")) for href in index["links"] if href.endswith(".html")
    ]
    assert chapter_pages, f"the index links no chapter: {index['links']}"
    if expected_chapters is not None:
        assert len(chapter_pages) == expected_chapters, index["links"]
    assert not index["images"] or all(i["width"] > 0 for i in index["images"])
    seen["index.html"] = index
    for page in chapter_pages:
        assert page.is_file(), f"the index links {page}, which does not exist"
    # two browsers at a time, each with its own profile folder
    with ThreadPoolExecutor(2) as pool:
        probes = list(
            pool.map(
                lambda i: probe_page(chapter_pages[i], profile / str(i)), range(len(chapter_pages))
            )
        )
    for page, probe in zip(chapter_pages, probes):
        name = page.relative_to(out).as_posix()
        assert probe["images"], f"{name}: no figure"
        for image in probe["images"]:
            assert image["complete"] and image["width"] > 0 and image["height"] > 0, (
                f"{name}: an image did not decode in Chromium: {image}"
            )
            assert image["shown"] > 50, f"{name}: an image is not shown: {image}"
        assert probe["banner"] in book.SETS, f"{name}: no banner naming the data"
        seen[name] = probe
    return seen


@pytest.mark.slow
def test_every_page_renders_with_its_figures_in_headless_chromium(chromium, built, tmp_path):
    result, out = built
    seen = check_book_in_chromium(out, tmp_path / "profile", len(result.chapters))
    for chapter in result.chapters:
        probe = seen[chapter.page]
        assert len(probe["images"]) == 1 and probe["tables"] == 1
        assert probe["banner"] == chapter.set_name
        assert probe["title"].startswith("01 · A tiny chapter")


@pytest.mark.slow
def test_a_chapter_screenshot_shows_the_figure(chromium, built, tmp_path):
    result, out = built
    page = out / result.chapters[0].page
    shot = tmp_path / "page.png"
    run_chromium(tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"
    # the red bars of the figure, drawn by the browser (4 bars of 5 x 3 inches at 80 dpi)
    assert red_fraction(pixels) > 0.005, "the figure is not visible in the screenshot"


@pytest.mark.slow
def test_a_chapter_renders_with_its_figure_when_served_over_http(chromium, built, tmp_path):
    result, out = built
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *args: None
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            address = f"http://127.0.0.1:{server.server_address[1]}"
            probe = probe_page(out / result.chapters[0].page, tmp_path / "profile", (out, address))
        finally:
            server.shutdown()
    assert len(probe["images"]) == 1 and probe["images"][0]["width"] > 0
    assert probe["tables"] == 1
    assert any(link == f"{address}/index.html" for link in probe["links"])


@pytest.mark.slow
def test_a_built_book_renders_in_chromium(chromium, tmp_path):
    """The book `make book` built from real runs: YT8M_BOOK_DIR=build/book pytest -k built_book
    (docs/book.md). Every page the index links opens with every image decoded."""
    if not os.environ.get("YT8M_BOOK_DIR"):
        pytest.skip("set YT8M_BOOK_DIR=build/book to check a built book")
    out = Path(os.environ["YT8M_BOOK_DIR"]).resolve()
    assert (out / "index.html").is_file(), f"no book in {out}: run `make book` first"
    pages = {p.relative_to(out).as_posix() for p in out.glob("*/*/*.html")}
    seen = check_book_in_chromium(out, tmp_path / "profile", len(pages))
    assert set(seen) == pages | {"index.html"}
