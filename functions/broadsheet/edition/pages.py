"""The pages of an edition: the HTML readers see, rendered from the issue indexes.

Listing pages read the index documents only; an article page reads its index too, plus
the body's HTML. The local build and the pipeline call the same functions, so the bytes
are the same wherever they are made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from babel import Locale

from broadsheet.content.site import Site
from broadsheet.edition import search as search_index
from broadsheet.edition import urls
from broadsheet.edition.beats import Beat, Item, anchor, entry_beats
from broadsheet.edition.dateline import dateline, long_date
from broadsheet.edition.index import (
    ArticleEntry,
    IssueDoc,
    IssuesDoc,
    PhotoEntry,
    in_language,
    modified,
)

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "skip": "Skip to content",
        "site_nav": "Site",
        "front_page": "Front page",
        "archive": "Archive",
        "issue": "Issue {n}",
        "by": "By",
        "read_in": "Also in",
        "tags": "Tags",
        "latest": "Latest issue",
        "feed": "Atom feed",
        "api": "Open data (JSON)",
        "in_this_issue": "In this issue",
        "back_to_issue": "Front page of",
        "no_articles": "Nothing has been published in English in this issue yet.",
        "no_issues": "No issues have been published yet.",
        "not_found": "Page not found",
        "not_found_text": "There is no page at this address.",
        "other": "More in this issue",
        "articles": "{n} articles",
        "article": "1 article",
        "sections": "Sections",
        "tags_title": "Tags",
        "corrections": "Corrections",
        "correction": "Correction, {date}",
        "updated": "Updated {date}",
        "no_corrections": "No corrections have been published.",
        "newest": "Newest",
        "older": "Older",
        "page": "page {n}",
        "section_feed": "Atom feed of this listing",
        "corrected": "corrected {date}",
        "search": "Search",
        "search_label": "Search the archive",
        "search_button": "Search",
        "search_all_sections": "All sections",
        "search_filters": "Filter by section or issue",
        "search_all_issues": "All issues",
        "search_section": "Section",
        "search_issue": "Issue",
        "search_noscript": "Searching needs JavaScript, which is off in this browser. "
        "Every article can still be found through the archive of issues.",
        "search_results": "{n} results",
        "search_result": "1 result",
        "search_none": "Nothing found.",
        "search_common": (
            "Those words are too common to search for: add a name, a place or a subject."
        ),
        "search_more": "More results",
        "search_unavailable": "Search is not available right now.",
    },
    "es": {
        "skip": "Ir al contenido",
        "site_nav": "Sitio",
        "front_page": "Portada",
        "archive": "Archivo",
        "issue": "Número {n}",
        "by": "Por",
        "read_in": "También en",
        "tags": "Etiquetas",
        "latest": "Último número",
        "feed": "Canal Atom",
        "api": "Datos abiertos (JSON)",
        "in_this_issue": "En este número",
        "back_to_issue": "Portada del",
        "no_articles": "Todavía no se ha publicado nada en español en este número.",
        "no_issues": "Todavía no se ha publicado ningún número.",
        "not_found": "Página no encontrada",
        "not_found_text": "No hay ninguna página en esta dirección.",
        "other": "Más en este número",
        "articles": "{n} artículos",
        "article": "1 artículo",
        "sections": "Secciones",
        "tags_title": "Etiquetas",
        "corrections": "Correcciones",
        "correction": "Corrección, {date}",
        "updated": "Actualizado el {date}",
        "no_corrections": "No se ha publicado ninguna corrección.",
        "newest": "Lo más reciente",
        "older": "Anteriores",
        "page": "página {n}",
        "section_feed": "Canal Atom de esta lista",
        "corrected": "corregido el {date}",
        "search": "Buscar",
        "search_label": "Buscar en el archivo",
        "search_button": "Buscar",
        "search_all_sections": "Todas las secciones",
        "search_filters": "Filtrar por sección o número",
        "search_all_issues": "Todos los números",
        "search_section": "Sección",
        "search_issue": "Número",
        "search_noscript": "La búsqueda necesita JavaScript, que está desactivado en este "
        "navegador. Todos los artículos se encuentran también en el archivo de números.",
        "search_results": "{n} resultados",
        "search_result": "1 resultado",
        "search_none": "No se ha encontrado nada.",
        "search_common": (
            "Esas palabras son demasiado comunes para buscarlas: "
            "añada un nombre, un lugar o un tema."
        ),
        "search_more": "Más resultados",
        "search_unavailable": "La búsqueda no está disponible ahora mismo.",
    },
}


def strings(language: str) -> dict[str, str]:
    return STRINGS.get(language, STRINGS["en"])


@cache
def language_name(language: str) -> str:
    name = Locale.parse(language).get_display_name(language) or language
    return str(name[:1].upper() + name[1:])


@dataclass(frozen=True)
class Asset:
    path: str
    body: bytes


@dataclass(frozen=True)
class Assets:
    css: Asset
    icon: Asset
    search: Asset

    def all(self) -> tuple[Asset, ...]:
        return self.css, self.icon, self.search


def _fingerprinted(name: str) -> Asset:
    body = resources.files("broadsheet.edition").joinpath("static", name).read_bytes()
    stem, dot, ext = name.rpartition(".")
    digest = hashlib.sha256(body).hexdigest()[:12]
    return Asset(f"/assets/{stem}.{digest}{dot}{ext}", body)


@cache
def assets() -> Assets:
    return Assets(
        _fingerprinted("site.css"), _fingerprinted("favicon.svg"), _fingerprinted("search.js")
    )


class _Environment(jinja2.Environment):
    """Templates read plain dicts: ``a.title`` looks up the key before the attribute.

    Jinja tries the attribute first and catches the AttributeError, which on ~65 lookups a
    page was a tenth of the time it takes to render one. A dict's methods (``items``) are
    still found when no key has their name.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@cache
def _environment() -> jinja2.Environment:
    return _Environment(
        loader=jinja2.PackageLoader("broadsheet.edition", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates are package data: never stat them per page
    )


def prepare() -> None:
    """Compile every template and fingerprint the assets, once: a process about to fork
    workers calls it first, so they share the compiled code instead of each compiling
    it again (half a second a worker)."""
    environment = _environment()
    for name in environment.list_templates():
        environment.get_template(name)
    assets()


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_ld(value: Any) -> str:
    # Inside <script>, "</" would end the element: escape the characters that could.
    text = _JSON.encode(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _render(template: str, **context: Any) -> bytes:
    return _environment().get_template(template).render(**context).encode()


def _common(site: Site, language: str, alternates: dict[str, str]) -> dict[str, Any]:
    return {
        "lang": language,
        "t": strings(language),
        "site_name": site.names[language],
        "tagline": site.descriptions.get(language, ""),
        "assets": {"css": assets().css.path, "icon": assets().icon.path},
        "home_path": urls.home(language),
        "archive_path": urls.archive(language),
        "search_path": urls.search(language),
        "sections_path": f"/{language}/sections/",
        "tags_path": f"/{language}/tags/",
        "corrections_path": f"/{language}/corrections/",
        "feed_path": urls.feed(language),
        "feed_url": urls.absolute(site.base_url, urls.feed(language)),
        "api_path": urls.ISSUES_INDEX,
        "language_links": [
            {"lang": lang, "path": path, "name": language_name(lang)}
            for lang, path in alternates.items()
            if lang != language
        ],
    }


def _page(
    site: Site,
    path: str,
    title: str,
    description: str,
    alternates: dict[str, str],
    og_type: str = "website",
    og_title: str | None = None,
    image: PhotoEntry | None = None,
) -> dict[str, Any]:
    card = None
    if image is not None:  # the wide crop, as social cards show it
        card = {**image["crops"]["16x9"], "alt": image["alt"]}
    return {
        "image": card,
        "title": title,
        "og_title": og_title or title,
        "og_type": og_type,
        "description": description,
        "canonical": urls.absolute(site.base_url, path),
        "alternates": {lang: urls.absolute(site.base_url, p) for lang, p in alternates.items()},
    }


def issue_label(doc: IssueDoc, language: str) -> str:
    return strings(language)["issue"].format(n=doc["number"])


def _issue_context(doc: IssueDoc, language: str) -> dict[str, Any]:
    date = dt.date.fromisoformat(doc["date"])
    label = issue_label(doc, language)
    return {
        "number": doc["number"],
        "label": label,
        "heading": doc["title"].get(language) or label,
        "title": doc["title"].get(language, ""),
        "date": doc["date"],
        "long_date": long_date(date, language),
        "path": urls.issue(language, doc["number"]),
    }


def _story(site: Site, entry: ArticleEntry) -> dict[str, Any]:
    date = dt.date.fromisoformat(entry["date"])
    return {**entry, "dateline": dateline(entry["dateline"], date, entry["language"])}


def render_article(site: Site, doc: IssueDoc, slug: str, body_html: str) -> bytes:
    entry = next(e for e in doc["articles"] if e["slug"] == slug)
    language = entry["language"]
    same = in_language(doc, language)
    position = next(i for i, e in enumerate(same) if e["slug"] == slug)
    prev = same[position - 1] if position > 0 else None
    next_ = same[position + 1] if position + 1 < len(same) else None
    date = dt.date.fromisoformat(entry["date"])
    section = site.section(entry["section"])
    issue = _issue_context(doc, language)
    links = entry_beats(site, entry)
    alternates = {language: entry["path"]}
    alternates.update({lang: t["path"] for lang, t in entry["translations"].items()})
    alternates = dict(sorted(alternates.items()))
    article = {
        **entry,
        "dateline": dateline(entry["dateline"], date, language),
        "long_date": long_date(date, language),
        "section_name": section.names.get(language, "") if section else "",
        "translations": [
            {"lang": lang, "language_name": language_name(lang), **t}
            for lang, t in sorted(entry["translations"].items())
        ],
        "links": links,
        "updated_on": (
            long_date(dt.date.fromisoformat((entry["updated"] or "")[:10]), language)
            if entry["updated"]
            else ""
        ),
        "printed_corrections": [
            {
                "label": strings(language)["correction"].format(
                    date=long_date(dt.date.fromisoformat(c["date"]), language)
                ),
                "date": c["date"],
                "html": c["html"],
            }
            for c in entry.get("corrections", [])
        ],
    }
    json_ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": entry["title"],
        "description": entry["summary"],
        "inLanguage": language,
        "datePublished": entry["published"],
        "dateModified": modified(entry),
        "mainEntityOfPage": entry["url"],
        "url": entry["url"],
        "author": [
            {"@type": "Person", "name": a["name"], "url": urls.absolute(site.base_url, a["path"])}
            for a in links["authors"]
        ],
        "keywords": entry["tags"],
        "publisher": {"@type": "Organization", "name": site.names[language]},
        "isPartOf": {
            "@type": "PublicationIssue",
            "issueNumber": str(doc["number"]),
            "datePublished": doc["date"],
            "url": doc["urls"][language],
            "isPartOf": {"@type": "Periodical", "name": site.names[language]},
        },
    }
    if section:
        json_ld["articleSection"] = section.names.get(language, section.id)
    lead = entry["image"]
    if lead is not None:
        json_ld["image"] = [lead["crops"][crop]["url"] for crop in ("16x9", "4x3", "1x1")]
    return _render(
        "article.html",
        **_common(site, language, alternates),
        page=_page(
            site,
            entry["path"],
            f"{entry['title']} · {site.names[language]}",
            entry["summary"],
            alternates,
            "article",
            entry["title"],
            lead,
        ),
        a=article,
        issue=issue,
        prev=prev,
        next=next_,
        body_html=_place(body_html, entry["photos"]),
        json_ld=_json_ld(json_ld),
    )


_MARK = re.compile(r"<!--photo (\d+)-->")


def _place(body_html: str, photos: list[PhotoEntry]) -> str:
    """The body with each photograph's mark (left by the typesetter) made its figure."""
    if "<!--photo " not in body_html:
        return body_html
    figure = _environment().get_template("photo.html").module.figure  # type: ignore[attr-defined]

    def replace(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return str(figure(photos[index])) if index < len(photos) else ""

    return _MARK.sub(replace, body_html)


def render_issue(site: Site, doc: IssueDoc, language: str, *, home: bool = False) -> bytes:
    entries = [_story(site, e) for e in in_language(doc, language)]
    issue = _issue_context(doc, language)
    t = strings(language)
    lead, rest = (entries[0], entries[1:]) if entries else (None, [])
    groups: list[dict[str, Any]] = []
    for entry in rest:
        section = site.section(entry["section"])
        name = section.names.get(language, section.id) if section else t["other"]
        if not groups or groups[-1]["name"] != name:
            groups.append({"name": name, "entries": []})
        groups[-1]["entries"].append(entry)
    path = urls.home(language) if home else urls.issue(language, doc["number"])
    alternates = {
        lang: (urls.home(lang) if home else urls.issue(lang, doc["number"]))
        for lang in site.languages
    }
    title = site.names[language] if home else f"{issue['heading']} · {site.names[language]}"
    description = (
        (site.descriptions.get(language) or issue["heading"])
        if home
        else f"{issue['label']}, {issue['long_date']}"
    )
    return _render(
        "issue.html",
        **_common(site, language, alternates),
        page=_page(site, path, title, description, alternates),
        issue=issue,
        lead=lead,
        sections=groups,
        is_home=home,
    )


def render_archive(site: Site, issues: IssuesDoc, language: str) -> bytes:
    t = strings(language)
    listed = []
    for summary in issues["issues"]:
        count = summary["articles"].get(language, 0)
        if not count:
            continue
        listed.append(
            {
                "label": t["issue"].format(n=summary["number"]),
                "title": summary["title"].get(language, ""),
                "date": summary["date"],
                "long_date": long_date(dt.date.fromisoformat(summary["date"]), language),
                "path": urls.issue(language, summary["number"]),
                "count": t["article"] if count == 1 else t["articles"].format(n=count),
            }
        )
    alternates = {lang: urls.archive(lang) for lang in site.languages}
    return _render(
        "archive.html",
        **_common(site, language, alternates),
        page=_page(
            site,
            urls.archive(language),
            f"{t['archive']} · {site.names[language]}",
            t["archive"],
            alternates,
        ),
        issues=listed,
    )


def render_search(site: Site, language: str) -> bytes:
    """The search page: the form works only with the script, which reads the language's
    Pagefind bundle; without it the page says so and points at the archive."""
    t = strings(language)
    alternates = {lang: urls.search(lang) for lang in site.languages}
    return _render(
        "search.html",
        **_common(site, language, alternates),
        page=_page(
            site,
            urls.search(language),
            f"{t['search']} · {site.names[language]}",
            t["search_label"],
            alternates,
        ),
        script=assets().search.path,
        blocks="/" + search_index.blocks_key(language),
        stop=search_index.stop_words(language),
    )


def render_not_found(site: Site) -> bytes:
    language = site.default_language
    alternates = {lang: urls.home(lang) for lang in site.languages}
    notices = [
        {
            "lang": lang,
            "text": strings(lang)["not_found_text"],
            "home": urls.home(lang),
            "front_page": strings(lang)["front_page"],
            "archive": urls.archive(lang),
            "archive_name": strings(lang)["archive"],
        }
        for lang in site.languages
    ]
    context = _common(site, language, alternates)
    page = _page(
        site,
        urls.NOT_FOUND,
        f"{strings(language)['not_found']} · {site.names[language]}",
        strings(language)["not_found"],
        {},
    )
    return _render("not_found.html", **context, page=page, notices=notices)


def render_robots(site: Site) -> bytes:
    sitemap = urls.absolute(site.base_url, urls.SITEMAP_INDEX)
    news = urls.absolute(site.base_url, urls.NEWS_SITEMAP)
    return (
        f"User-agent: *\nAllow: /\nDisallow: /api/\n\nSitemap: {sitemap}\nSitemap: {news}\n"
    ).encode()


def render_beat(
    site: Site, beat: Beat, name: str, number: int, items: list[Item], older: int, at: str = ""
) -> bytes:
    """A page of a section, tag, author or the corrections."""
    language = beat.language
    t = strings(language)
    heading = t["corrections"] if beat.kind == "correction" else name
    alternates = {language: beat.page_path(number)}
    title = heading if number == 0 else f"{heading} ({t['page'].format(n=number)})"
    author = (
        next((a for a in site.authors if a.slug == beat.key), None)
        if beat.kind == "author"
        else None
    )
    shown = []
    for item in items:
        date = dt.date.fromisoformat(item["date"])
        shown.append(
            {
                **item,
                "anchor": anchor(item),
                "dateline": dateline(item["dateline"], date, language),
                "correction_label": t["correction"].format(
                    date=long_date(dt.date.fromisoformat(item["correction_date"]), language)
                )
                if beat.kind == "correction"
                else "",
            }
        )
    return _render(
        "beat.html",
        **_common(site, language, alternates),
        page=_page(
            site, beat.page_path(number), f"{title} · {site.names[language]}", title, alternates
        ),
        beat={
            "kind": beat.kind,
            "heading": heading,
            "bio": author.bios.get(language, "") if author else "",
            "url": author.url if author and author.url else "",
            "feed": beat.feed_path or "",
            "newest": beat.path if number != 0 else "",
            "older": beat.page_path(older) + at if older else "",
            "empty": t["no_corrections"] if beat.kind == "correction" else "",
        },
        items=shown,
    )


def render_beat_index(
    site: Site, language: str, kind: str, present: list[tuple[str, str]]
) -> bytes:
    """/<lang>/sections/ or /<lang>/tags/: every one with articles in this language."""
    t = strings(language)
    heading = t["sections"] if kind == "section" else t["tags_title"]
    folder = "sections" if kind == "section" else "tags"
    path = f"/{language}/{folder}/"
    alternates = {lang: f"/{lang}/{folder}/" for lang in site.languages}
    return _render(
        "beat_index.html",
        **_common(site, language, alternates),
        page=_page(site, path, f"{heading} · {site.names[language]}", heading, alternates),
        heading=heading,
        entries=[{"name": name, "path": f"{path}{key}/"} for key, name in present],
    )
