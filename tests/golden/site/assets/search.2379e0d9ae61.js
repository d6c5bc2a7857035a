// The search page: Pagefind's index of the page's language, read in the browser.
// Results are built as DOM nodes, never from HTML strings: an excerpt's only markup is
// Pagefind's <mark>, and everything else in it is set as text.
const form = document.querySelector("form.search");
const status = document.querySelector(".status");
const list = document.querySelector(".results");
const moreButton = document.querySelector("button.more");
const SHOWN = 10; // a result's excerpt costs its fragment: ten at a time

function say(text) {
  status.textContent = text;
}

function decoded(escaped) {
  const area = document.createElement("textarea");
  area.innerHTML = escaped; // RCDATA: entities are decoded, no element is made
  return area.value;
}

// The index leaves out the stop words (the server's list, on the form), so the query
// does too.
const STOP = new Set((form?.dataset.stop || "").split(" ").filter(Boolean));

function key(word) {
  return word.toLowerCase().replace(/^[^\p{L}\p{N}_]+|[^\p{L}\p{N}_]+$/gu, "");
}

function withoutStopWords(query) {
  // A stop word goes, the quotes around a phrase stay.
  return query
    .split(/\s+/)
    .map((word) => (STOP.has(key(word)) ? word.replace(/[\p{L}\p{N}_]+/gu, "") : word))
    .join(" ")
    .trim();
}

function excerpt(html) {
  const p = document.createElement("p");
  p.className = "excerpt";
  html.split(/(<mark>.*?<\/mark>)/s).forEach((part) => {
    const marked = part.startsWith("<mark>");
    const text = decoded(marked ? part.slice(6, -7) : part);
    if (marked) {
      const mark = document.createElement("mark");
      mark.textContent = text;
      p.append(mark);
    } else {
      p.append(text);
    }
  });
  return p;
}

function item(data) {
  const li = document.createElement("li");
  const h2 = document.createElement("h2");
  const a = document.createElement("a");
  a.href = data.url;
  a.textContent = data.meta.title;
  h2.append(a);
  const where = document.createElement("p");
  where.className = "kicker";
  where.textContent = [data.meta.dateline, data.meta.date].filter(Boolean).join(" · ");
  li.append(h2, where, excerpt(data.excerpt));
  return li;
}

function options(select, values) {
  const keys = Object.keys(values || {});
  keys.sort((a, b) => (select.name === "issue" ? Number(b) - Number(a) : a.localeCompare(b)));
  for (const key of keys) {
    const option = document.createElement("option");
    option.value = key;
    option.textContent = key;
    select.append(option);
  }
}

// The index comes in blocks of issues, each a bundle of its own, listed newest first:
// Pagefind is loaded from the first, the others are merged into it, and a query runs
// on all of them at once.
async function open() {
  const listed = await fetch(form.dataset.blocks);
  if (!listed.ok) throw new Error(`${form.dataset.blocks}: ${listed.status}`);
  const { blocks } = await listed.json();
  const folder = form.dataset.blocks.replace(/[^/]*$/, "");
  const pagefind = await import(`${folder}${blocks[0]}/pagefind.js`);
  // Results are site paths; Pagefind would put them under the folder of its bundle.
  const options = { baseUrl: "/", excerptLength: 24 };
  await pagefind.options(options);
  await pagefind.init();
  await Promise.all(blocks.slice(1).map((block) => pagefind.mergeIndex(`${folder}${block}/`, options)));
  return pagefind;
}

async function start() {
  let pagefind;
  try {
    pagefind = await open();
  } catch (error) {
    say(form.dataset.unavailable);
    return;
  }
  form.hidden = false;
  // The filters' files (every page's section and issue: over 20 KB for 10,000 articles)
  // are fetched only when a reader opens the menus, or comes with a filter chosen.
  const menus = form.querySelector("details.filters");
  let filled = null;
  function fill() {
    filled ??= pagefind.filters().then((filters) => {
      options(form.elements.section, filters.section);
      options(form.elements.issue, filters.issue);
    });
    return filled;
  }
  menus.addEventListener("toggle", () => menus.open && fill());
  const params = new URLSearchParams(location.search);
  if (params.get("section") || params.get("issue")) {
    menus.open = true;
    await fill();
  }
  for (const name of ["q", "section", "issue"]) {
    if (params.get(name)) form.elements[name].value = params.get(name);
  }
  let asked = 0;

  async function run() {
    const query = form.elements.q.value.trim();
    const ask = ++asked;
    const chosen = {};
    for (const name of ["section", "issue"]) {
      if (form.elements[name].value) chosen[name] = form.elements[name].value;
    }
    const url = new URL(location.href);
    url.search = new URLSearchParams(
      Object.entries({ q: query, ...chosen }).filter(([, v]) => v)
    ).toString();
    history.replaceState(null, "", url);
    const words = withoutStopWords(query);
    if (!query || !words.split(/\s+/).map(key).some(Boolean)) {
      list.replaceChildren();
      moreButton.hidden = true;
      say(query ? form.dataset.common : ""); // only stop words: nothing the index holds
      return;
    }
    const results = await find(words, chosen);
    if (ask !== asked) return; // a newer search has started
    list.replaceChildren();
    await more(results, ask);
    const n = results.length;
    say(n === 0 ? form.dataset.none : n === 1 ? form.dataset.result : form.dataset.results.replace("{n}", n));
  }

  // Pagefind leaves out of a query a word its index does not hold, and each block is
  // an index: a block without one of the words would offer its pages with the others,
  // which one whole index would not. So a query of several words keeps only pages that
  // each word found alone, of the words found at all (ids: no page's text is fetched).
  async function find(words, filters) {
    const search = await pagefind.search(words, { filters });
    const terms = [...new Set(words.toLowerCase().split(/\s+/).filter(Boolean))];
    if (terms.length < 2 || words.includes('"')) return search.results;
    const alone = await Promise.all(terms.map((term) => pagefind.search(term, { filters })));
    const found = alone.filter((s) => s.results.length).map((s) => new Set(s.results.map((r) => r.id)));
    return search.results.filter((r) => found.every((ids) => ids.has(r.id)));
  }

  async function more(results, ask) {
    const shown = list.children.length;
    const data = await Promise.all(results.slice(shown, shown + SHOWN).map((r) => r.data()));
    if (ask !== asked) return;
    list.append(...data.map(item));
    moreButton.hidden = list.children.length >= results.length;
    moreButton.onclick = () => more(results, ask);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  form.addEventListener("change", run);
  let timer;
  form.elements.q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  if (form.elements.q.value) run();
}

start();
