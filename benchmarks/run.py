"""`make bench`: measure, print the figures, and write benchmarks/results/latest.json.

Each figure is the median of several runs of the real command in a fresh process, on a
generated archive (benchmarks/archive.py). Nothing here is a test: there are no
thresholds, only numbers, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.archive import generate
from benchmarks.hugo import hugo_command, hugo_site
from benchmarks.limits import worst_case
from benchmarks.localstack import first_publish, local_stack
from benchmarks.photos import article_weight, variants_cpu
from benchmarks.pipeline import (
    cold_starts,
    compiled_copy,
    one_article_commits,
    package_size,
    without_runtime_sdk,
)
from benchmarks.search import bench_search
from benchmarks.stages import worst_issue
from benchmarks.state import one_word_edits

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BROADSHEET = [sys.executable, "-m", "broadsheet.cli"]


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def timed(
    command: list[str], *, expect: int = 0, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, the process and the workers it waited
    for) and peak resident MB of its largest process (benchmarks/peak.py)."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.peak", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    figures = json.loads(result.stdout) if result.returncode == 0 else {"exit": None}
    if figures["exit"] != expect:
        raise SystemExit(
            f"bench: {' '.join(command)} exited {figures['exit']}:\n{result.stderr[-2000:]}"
        )
    return float(figures["wall_s"]), float(figures["cpu_s"]), float(figures["peak_mb"])


def median_of(
    runs: int, command: list[str], before: Any = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(timed(command, env=env))
    walls = [s[0] for s in samples]
    return {
        "median_s": round(statistics.median(walls), 3),
        "runs_s": [round(s, 3) for s in walls],
        "cpu_s_median": round(statistics.median(s[1] for s in samples), 2),
        "peak_mb": round(max(s[2] for s in samples)),
    }


def with_a_template_changed(work: Path) -> dict[str, str]:
    """The environment of a build whose base template differs by one comment: a copy of
    the package first on the path, as after an edit to a template."""
    copy = work / "changed-template"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / "functions" / "broadsheet", copy / "broadsheet")
    base = copy / "broadsheet" / "edition" / "templates" / "base.html"
    base.write_text(base.read_text() + "{# changed #}\n")
    return {**os.environ, "PYTHONPATH": str(copy)}


def bench_site(work: Path, articles: int, runs: int) -> dict[str, Any]:
    content = generate(work / f"content-{articles}", articles)
    out, cache = work / "out", work / "cache"

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)

    figures: dict[str, Any] = {"articles": articles}
    figures["validate"] = median_of(runs, [*BROADSHEET, "validate", "--content", str(content)])
    build = [
        *BROADSHEET,
        "build",
        "--quiet",
        "--content",
        str(content),
        "--out",
        str(out),
        "--cache",
        str(cache),
    ]
    figures["full_build_cold"] = median_of(runs, build, before=clean)
    # Without the search index (--no-search): what Hugo's build is, with nothing like it.
    figures["full_build_cold_no_search"] = median_of(runs, [*build, "--no-search"], before=clean)
    # The same with markdown-it-py alone: what the fast typesetter (linotype) saves.
    reference = {**os.environ, "BROADSHEET_TYPESETTER": "markdown-it-py"}
    figures["full_build_cold_markdown_it_py"] = median_of(runs, build, before=clean, env=reference)
    # Warm: nothing changed since the last build, every body comes from the cache.
    figures["template_only_rebuild"] = median_of(runs, build)
    # One template edited (each run after a warm build with the package as it is).
    changed = with_a_template_changed(work)
    figures["one_template_changed"] = median_of(
        runs, build, before=lambda: timed(build), env=changed
    )
    # The yardstick the targets were set against, on this corpus (benchmarks/reference.py).
    plain = [sys.executable, "-m", "benchmarks.reference", str(content), str(out)]
    figures["plain_markdown_jinja_loop"] = median_of(runs, plain, before=clean)
    # Hugo on the same content, in the same run (benchmarks/hugo.py).
    hugo = hugo_command(hugo_site(content, work), out)
    figures["hugo"] = median_of(runs, hugo, before=clean)
    clean()
    return figures


def soak(minutes: float) -> str:
    """The convergence oracle for a while: histories and messages it tries a minute."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.soak", "--minutes", str(minutes)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def archive(work: Path, size: int) -> Path:
    """The generated archive of ``size`` articles, made once a run."""
    content = work / f"p{size}" / "content"
    return content if content.is_dir() else generate(content, size)


def _publishing(work: Path, args: Any) -> dict[str, Any]:
    sizes = (100, 1_000, args.articles)
    figures: dict[str, Any] = {}
    for key, options in (
        ("publish_one_article", {}),
        ("publish_one_article_s3", {"s3": True}),
        # A new article each time: its section, tags and author listings change as well.
        ("publish_new_article", {"new": True}),
        ("publish_new_article_s3", {"s3": True, "new": True}),
    ):
        figures[key] = {
            str(size): one_article_commits(archive(work, size), 31, **options) for size in sizes
        }
    return figures


def _package(work: Path, args: Any) -> dict[str, Any]:
    package = ROOT / "build" / "package"
    if not package.is_dir():
        return {}
    compiled = compiled_copy(package, work / "compiled")
    runtime_sdk = without_runtime_sdk(compiled, work / "runtime-sdk")
    return {
        "package": {
            "unzipped_mb": package_size(package),
            "unzipped_mb_with_bytecode": package_size(compiled),
            "unzipped_mb_with_the_runtimes_sdk": package_size(runtime_sdk),
            "cold_start_ms": cold_starts(7, package),
            "cold_start_ms_with_bytecode": cold_starts(7, compiled),
            # boto3 and botocore from the interpreter (compiled), as the runtime's were
            "cold_start_ms_with_the_runtimes_sdk": cold_starts(7, runtime_sdk),
        }
    }


PARTS: dict[str, Any] = {
    "site": lambda work, args: {"site": bench_site(work, args.articles, args.runs)},
    "local_stack": lambda work, args: {"local_stack": local_stack(work, 3)},
    "publish": _publishing,
    "first_publish": lambda work, args: {
        "first_publish_local_stack": first_publish(work, args.articles)
    },
    "worst_issue": lambda work, args: {"worst_issue": worst_issue(work)},
    "search": lambda work, args: {
        "search": bench_search(archive(work, args.articles), work / "search")
    },
    "worst_article": lambda work, args: {"worst_article": worst_case()},
    "photos": lambda work, args: {
        "photos": {"article": article_weight(), "variants_12mp": variants_cpu()}
    },
    "soak": lambda work, args: {"soak": soak(args.soak_minutes)},
    "cold_start": lambda work, args: {"cold_start_ms": cold_starts(7)},
    "state": lambda work, args: {"state_writes": one_word_edits()},
    "package": _package,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--soak-minutes", type=float, default=2.0)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts to measure again, keeping latest.json's other figures "
        f"(make bench ONLY=site,search); parts: {', '.join(PARTS)}",
    )
    args = parser.parse_args()
    chosen = [p for p in args.only.split(",") if p] or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; parts: {', '.join(PARTS)}")
    latest = RESULTS / "latest.json"
    results: dict[str, Any] = (
        json.loads(latest.read_text()) if args.only and latest.exists() else {}
    )
    results["machine"] = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="broadsheet-bench-") as folder:
        work = Path(folder)
        for part in chosen:
            # Each part saved as soon as it is measured, so a failure later loses nothing.
            results.update(PARTS[part](work, args))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            results.setdefault("when", {})[part] = stamp
            latest.write_text(json.dumps(results, indent=2) + "\n")
    report(results, args.articles)
    return 0


def report(results: dict[str, Any], articles: int) -> None:
    if "site" in results:
        site = results["site"]
        print(
            f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
            f"Python {results['machine']['python']}"
        )
        print(f"archive: {site['articles']:,} generated articles (~800 words, 50 per issue)")
        for name in (
            "validate",
            "full_build_cold",
            "full_build_cold_markdown_it_py",
            "template_only_rebuild",
            "one_template_changed",
            "plain_markdown_jinja_loop",
            "hugo",
        ):
            if name not in site:
                continue
            run = site[name]
            print(
                f"  {name:<26} median {run['median_s']:7.2f} s wall, "
                f"CPU {run['cpu_s_median']:6.1f} s, "
                f"peak {run['peak_mb']:5d} MB   runs {run['runs_s']}"
            )
        if "hugo" in site:
            hugo = site["hugo"]["median_s"]
            print(
                f"  against Hugo: cold {site['full_build_cold']['median_s'] / hugo:.2f}x "
                f"({site.get('full_build_cold_no_search', {}).get('median_s', 0) / hugo:.2f}x "
                "without the search index), warm "
                f"{site['template_only_rebuild']['median_s'] / hugo:.2f}x, one template changed "
                f"{site['one_template_changed']['median_s'] / hugo:.2f}x (targets: 1.0x, 0.5x)"
            )
    if "publish_one_article" in results:
        for key, title in (
            ("publish_one_article_s3", "S3 in moto server, boto3, a fresh process as in Lambda"),
            ("publish_one_article", "in-memory adapters, the archive in the same process"),
            ("publish_new_article_s3", "a new article in 4 listings; S3 in moto server"),
            ("publish_new_article", "a new article in 4 listings; in-memory adapters"),
        ):
            print(
                f"publish one article ({title}; CPU of the four publishing stages, 31 commits; "
                "search below):"
            )
            figures_by_size = results[key]
            for size, figures in figures_by_size.items():
                print(
                    f"  archive {int(size):>6,}: CPU min {figures['cpu_ms_min']:5.1f} ms, "
                    f"median {figures['cpu_ms_median']:5.1f} ms, "
                    f"S3 requests {figures['s3_requests_median']}, "
                    f"CDN paths median {figures.get('cdn_paths_median')}, "
                    f"most {figures['cdn_paths_max']}"
                    + (
                        f" (bound {figures['cdn_paths_bound']}, over it in "
                        f"{figures['cdn_paths_over_bound']} of {len(figures['cdn_paths_each'])})"
                        if figures.get("cdn_paths_bound")
                        else ""
                    )
                )
            # The largest archive measured (a later run with --articles may be another size)
            largest = max(figures_by_size, key=int)
            for estimate in ("cpu_ms_min", "cpu_ms_median"):
                small, large = (figures_by_size[k][estimate] for k in ("100", largest))
                print(
                    f"  CPU ratio {int(largest):,} / 100 articles ({estimate}): {large / small:.2f}"
                )
    if "cold_start_ms" in results:
        print("cold start (import and client set-up, median of 7 fresh processes):")
        for stage, ms in results["cold_start_ms"].items():
            print(f"  {stage:<11} {ms:6.1f} ms")
    if "local_stack" in results:
        local = results["local_stack"]
        print(
            f"local stack (broadsheet run, dependencies installed): first page served after "
            f"{local['start_to_first_page_s']} s; one-article commit to changed page "
            f"{local['commit_to_page_s']} s (medians of 3)"
        )
    if "package" in results:
        built = results["package"]
        print(
            f"deployment package (make build): {built['unzipped_mb']} MB unzipped, boto3 "
            f"included ({built['unzipped_mb_with_the_runtimes_sdk']} MB compiled with the "
            "runtime's boto3 instead; one package, every handler)"
        )
        for stage, ms in built["cold_start_ms"].items():
            with_bytecode = built["cold_start_ms_with_bytecode"][stage]
            runtime_sdk = built["cold_start_ms_with_the_runtimes_sdk"][stage]
            print(
                f"  {stage:<11} cold start from the package {ms:6.1f} ms as built here "
                f"(no bytecode), {with_bytecode:6.1f} ms with bytecode compiled, "
                f"{runtime_sdk:6.1f} ms with the runtime's boto3"
            )
    if "first_publish_local_stack" in results:
        first = results["first_publish_local_stack"]
        print(
            f"first publish of {first['articles']:,} articles through the local stack (moto on "
            f"loopback, the real handlers): {first['wall_s']} s wall ({first['publish_s']} s of it "
            f"`broadsheet publish`), {first['issue_documents']} issues, largest message "
            f"{first['largest_message_bytes']:,} bytes, {first['failures']} failures, "
            f"{first['dead_lettered']} dead-lettered (after the site.yml edits too)"
        )
        print(
            f"  invocations side by side, each in an environment of its own: duration per "
            f"function {first['busy_s']}, CPU {first['cpu_s']}; slowest invocation "
            f"{first['slowest_invocation_s']}, CPU {first['slowest_invocation_cpu_s']}; "
            f"peak memory of an environment (MB) {first['peak_rss_mb']}; "
            f"{first['throttled']} records throttled; moto (the buckets and queues) spent "
            f"{first['moto_cpu_s']} s of CPU"
        )
        print(
            f"  on Lambda (index's issue groups ten at once, its shared group in turn, the "
            f"rest side by side): about {first['lambda_estimate_s']} s of function CPU time "
            f"(index {first['index_on_lambda_s']} s, its shared group "
            f"{first['index_shared_group_s']} s), plus S3 latency"
        )
        print(
            f"  `broadsheet build --no-cache` of the same archive: {first['build_no_cache_s']} s "
            "(median of 3); then site-wide changes on the published archive (goal: within 10x "
            "of the build):"
        )
        for change, edit in first["site_yml_edit"].items():
            print(
                f"    site.yml, {change}: {edit['wall_s']} s wall ({edit['wall_vs_build']}x); "
                f"CPU per function {edit['cpu_s']}, moto {edit['moto_cpu_s']} s; on Lambda about "
                f"{edit['lambda_estimate_s']} s ({edit['lambda_vs_build']}x)"
            )
    if "worst_issue" in results:
        worst = results["worst_issue"]
        print(
            f"worst unit of work ({worst['articles']} articles in one issue): slowest CPU "
            f"{worst['cpu_s_slowest']} s, peak allocations {worst['allocated_mb_peak']} MB, "
            f"largest message {worst['largest_message_bytes']} bytes"
        )
    if "worst_article" in results:
        print("worst articles the limits allow, typeset (make bench; README's editor section):")
        for name, figures in results["worst_article"].items():
            print(
                f"  {name:<10} {figures['characters']:>7,} characters: "
                f"{figures['seconds']:5.2f} s, "
                f"peak {figures['peak_mb']:5.1f} MB allocated"
            )
    if "photos" in results:
        photos = results["photos"]
        print(
            "article with a lead photograph: HTML + CSS "
            f"{photos['article']['html_and_css_kb']} KB; "
            f"960 px lead {photos['article']['lead_960_jpg_kb']} KB as JPEG, "
            f"{photos['article']['lead_960_webp_kb']} KB as WebP"
        )
        variants_12mp = photos["variants_12mp"]
        print(
            f"variants of a 12-megapixel JPEG ({variants_12mp['source_kb']} KB): "
            f"{variants_12mp['variants']} files in "
            f"{variants_12mp['cpu_s_median']} s of CPU (median)"
        )
    if "search" in results:
        for name, figures in results["search"].items():
            pagefind_peak = max(p["pagefind_peak_mb"] for p in figures["by_language"].values())
            chunks = figures["index_chunks"]
            print(
                f"search index of {figures['articles']:,} articles ({name.replace('_', ' ')}): "
                f"{figures['cpu_s_total']} s CPU for both languages, one at a time, Pagefind's "
                f"peak {pagefind_peak} MB, {figures['disk_mb_total']} MB on disk; "
                f"{chunks['chunks']} English index chunks, median {chunks['median_kb']} KB, "
                f"largest {chunks['max_kb']} KB; opening the page {figures['open_page_kb']} KB"
            )
            for band, reader in figures["reader_by_band"].items():
                asked = ", ".join(
                    f"{q['query']!r} {q['kb_total']} KB ({q['status']})" for q in reader["queries"]
                )
                print(
                    f"  {band} two-word queries: median {reader['median_kb_total']} KB, "
                    f"most {reader['max_kb_total']} KB: {asked}"
                )
    if "state_writes" in results:
        print("state the pipeline writes to publish a one-word edit of the demo content:")
        for edit, figures in results["state_writes"].items():
            kinds = ", ".join(f"{k} {n}" for k, n in figures["by_kind"].items())
            print(
                f"  a word of the {edit}: {figures['state_writes']} writes of "
                f"{figures['kinds_written']} kinds for {figures['pages_changed']} pages changed "
                f"({kinds}); pipeline/ is {figures['pipeline_lines']} lines"
            )
    if "soak" in results:
        print(results["soak"])
    print(f"written to {RESULTS.relative_to(ROOT)}/latest.json")


if __name__ == "__main__":
    sys.exit(main())
