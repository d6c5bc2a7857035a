"""A generated archive for benchmarks: realistic articles of about 800 words, 50 per issue.

Deterministic for a given size, so runs compare like with like. Half the articles are
Spanish translations of the English ones, as in a real bilingual issue.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

WORDS_EN = (
    "the workers union strike picket shift wage contract port warehouse tenants rent "
    "assembly committee delegates vote council city factory night hours pay safety heat "
    "company managers agreement demand solidarity neighbours families children school "
    "hospital nurses drivers teachers bus station dock cranes lorry depot and of to in "
    "for with on at by from that this their they we our after before during while when "
    "said asked voted refused agreed marched gathered organised stopped returned won lost "
    "week month year morning evening meeting street square building office floor line"
).split()
WORDS_ES = (
    "los trabajadores sindicato huelga piquete turno salario convenio puerto almacén "
    "inquilinas alquiler asamblea comité delegadas voto concejo ciudad fábrica noche horas "
    "pago seguridad calor empresa gerentes acuerdo demanda solidaridad vecinas familias "
    "escuela hospital enfermeras conductores docentes y de a en para con sobre por desde "
    "que este su ellos nosotras después antes durante mientras cuando dijo pidió votó "
    "rechazó acordó marchó reunió organizó paró volvió ganó semana mes año mañana tarde"
).split()
PLACES = [
    "Los Angeles (USA)",
    "Madrid (Spain)",
    "Rotterdam (Netherlands)",
    "Puebla (Mexico)",
    "Leeds (England)",
    "Buenos Aires (Argentina)",
    "Glasgow (Scotland)",
    "Lyon (France)",
]
SECTIONS = ["labour", "housing", "international", "culture", "opinion"]
SITE = """name:
  en: The Benchmark Broadsheet
  es: La Hoja de Pruebas
base_url: https://bench.example.org
languages: [en, es]
sections:
  labour: {en: Labour, es: Trabajo}
  housing: {en: Housing, es: Vivienda}
  international: {en: International, es: Internacional}
  culture: {en: Culture, es: Cultura}
  opinion: {en: Opinion, es: Opinión}
"""


def _sentence(rng: random.Random, words: list[str]) -> str:
    chosen = rng.choices(words, k=rng.randint(9, 22))
    text = " ".join(chosen)
    if rng.random() < 0.15:
        i = rng.randrange(len(chosen))
        chosen[i] = f"*{chosen[i]}*"
        text = " ".join(chosen)
    if rng.random() < 0.08:
        text += " 'we will not go back'"
    return text[0].upper() + text[1:] + "."


def _body(rng: random.Random, words: list[str], target: int = 800) -> str:
    blocks: list[str] = []
    count = 0
    while count < target:
        roll = rng.random()
        if roll < 0.06 and blocks:
            block = f"## {_sentence(rng, words)[:-1]}"
        elif roll < 0.12:
            block = "> " + _sentence(rng, words) + " " + _sentence(rng, words)
        elif roll < 0.17:
            block = "\n".join(f"- {_sentence(rng, words)}" for _ in range(3))
        else:
            sentences = [_sentence(rng, words) for _ in range(rng.randint(3, 6))]
            if rng.random() < 0.3:
                sentences.append(f"See [the report](https://example.org/r/{rng.randint(1, 999)}).")
            block = " ".join(sentences)
        blocks.append(block)
        count += len(block.split())
    return "\n\n".join(blocks) + "\n"


def _tags(words: list[str]) -> list[str]:
    """The words as tags, one spelling a page: 'voto' and 'votó' would share one, which
    within an issue is a finding."""
    from broadsheet.content.folding import fold

    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(fold(word), word)
    return sorted(seen.values())


def _article(
    rng: random.Random,
    number: int,
    index: int,
    language: str,
    translation_of: str | None,
    length: int = 800,
    date: str = "2020-01-01",
) -> tuple[str, str]:
    words = WORDS_EN if language == "en" else WORDS_ES
    slug = f"{'story' if language == 'en' else 'nota'}-{number}-{index}"
    title = _sentence(rng, words)[:90].rstrip(".").replace("'", "")
    lines = [
        "---",
        f'title: "{title}"',
        f"language: {language}",
        f"date: {date}",
        f"dateline: {rng.choice(PLACES)}",
        f"section: {rng.choice(SECTIONS)}",
        f"authors: [Writer {rng.randint(1, 40)}]",
        'tags: ["{}", "{}"]'.format(*rng.sample(_tags(words), 2)),
    ]
    if translation_of:
        lines.append(f"translation_of: {translation_of}")
    lines += ["---", "", _body(rng, words, length)]
    return slug, "\n".join(lines)


def generate(
    root: Path, articles: int, per_issue: int = 50, seed: int = 412, words: int = 800
) -> Path:
    """Write ``articles`` articles of about ``words`` words into ``root`` (replacing it)
    and return it."""
    if root.exists():
        shutil.rmtree(root)
    (root / "issues").mkdir(parents=True)
    (root / "site.yml").write_text(SITE)
    rng = random.Random(seed)
    issues = max(1, articles // per_issue)
    written = 0
    for n in range(1, issues + 1):
        folder = root / "issues" / str(n)
        folder.mkdir()
        month, day = divmod(n - 1, 28)
        # Articles carry their issue's date, as a paper's do: the newest issue is news.
        date = f"{2000 + month // 12:04d}-{month % 12 + 1:02d}-{day + 1:02d}"
        (folder / "issue.yml").write_text(f"number: {n}\ndate: {date}\n")
        in_issue = min(per_issue, articles - written)
        for i in range(0, in_issue, 2):
            slug, text = _article(rng, n, i, "en", None, words, date)
            (folder / f"{slug}.md").write_text(text)
            written += 1
            if i + 1 < in_issue:
                es_slug, es_text = _article(rng, n, i + 1, "es", slug, words, date)
                (folder / f"{es_slug}.md").write_text(es_text)
                written += 1
    return root
