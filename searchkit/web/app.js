// searchkit's search page: reads its state from the URL, asks the JSON API,
// and builds the page with DOM calls only (text is never parsed as HTML).
"use strict";

const PAGE_SIZE = 10;
const FACETS = [["source", "来源"], ["author", "作者"], ["year", "年份"]];
const FILTERS = [["source", "来源"], ["author", "作者"], ["tag", "标签"]];

const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

// Text with [start, end) character spans wrapped in <mark>. JavaScript strings
// count UTF-16 units and the API counts characters, so walk by code points.
function marked(text, spans) {
  const fragment = document.createDocumentFragment();
  const chars = Array.from(text || "");
  let at = 0;
  for (const [start, end] of spans || []) {
    if (start > at) fragment.append(chars.slice(at, start).join(""));
    fragment.append(el("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  if (at < chars.length) fragment.append(chars.slice(at).join(""));
  return fragment;
}

function state() {
  return new URLSearchParams(window.location.search);
}

// The page's URL for the current state with some keys changed (null removes a key).
function linkTo(changes, base) {
  const params = new URLSearchParams(base || state());
  params.delete("article");
  for (const [name, value] of Object.entries(changes)) {
    params.delete(name);
    for (const one of [].concat(value === null ? [] : value)) params.append(name, one);
  }
  if (!("offset" in changes)) params.delete("offset");
  return "/?" + params.toString();
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

async function api(path) {
  const response = await fetch(path, {headers: {Accept: "application/json"}});
  const data = await response.json().catch(() => ({error: "服务器返回了无法读取的答复 (" + response.status + ")"}));
  if (!response.ok) throw new Error(data.error || String(response.status));
  return data;
}

function metadata(item) {
  const parts = [item.date, item.source, (item.authors || []).join("、")].filter(Boolean);
  return el("p", {class: "meta"}, parts.join(" · "));
}

function hitView(hit, params) {
  const href = linkTo({article: hit.article_id, offset: params.get("offset")});
  const title = el("a", {href: href}, marked(hit.title || hit.article_id, hit.title_highlights));
  const snippet = el("p", {class: "snippet"}, marked(hit.snippet.text, hit.snippet.highlights));
  return el("li", {class: "hit"}, el("h2", {}, title), metadata(hit), snippet);
}

function facetView(name, label, counts, params) {
  const list = el("ul", {});
  const chosen = params.getAll(name);
  for (const [value, count] of Object.entries(counts || {})) {
    const changes = name === "year" ? {from: value, to: value} : {[name]: chosen.concat([value])};
    const active = name === "year" ? params.get("from") === value && params.get("to") === value : chosen.includes(value);
    const link = el("a", {href: linkTo(changes), "aria-current": active ? "true" : null}, value);
    list.append(el("li", {}, link, el("span", {class: "count"}, " " + count)));
  }
  if (!list.children.length) return null;
  return el("section", {class: "facet"}, el("h3", {}, label), list);
}

function activeFilters(params) {
  const box = el("div", {});
  for (const [name, label] of FILTERS) {
    for (const value of params.getAll(name)) {
      const rest = params.getAll(name).filter((v) => v !== value);
      box.append(el("a", {class: "chip", href: linkTo({[name]: rest}), "aria-label": "去掉筛选 " + label + " " + value},
        label + "：" + value + " ×"));
    }
  }
  if (params.get("from") || params.get("to")) {
    box.append(el("a", {class: "chip", href: linkTo({from: null, to: null}), "aria-label": "去掉日期范围"},
      "日期：" + (params.get("from") || "…") + " 至 " + (params.get("to") || "…") + " ×"));
  }
  return box;
}

function pager(total, offset) {
  const nav = el("nav", {class: "pager", "aria-label": "翻页"});
  if (offset > 0) nav.append(el("a", {href: linkTo({offset: String(Math.max(0, offset - PAGE_SIZE))}), rel: "prev"}, "上一页"));
  const last = Math.min(total, offset + PAGE_SIZE);
  nav.append(el("span", {}, " 第 " + (offset + 1) + "–" + last + " 篇，共 " + total + " 篇 "));
  if (offset + PAGE_SIZE < total) nav.append(el("a", {href: linkTo({offset: String(offset + PAGE_SIZE)}), rel: "next"}, "下一页"));
  return nav;
}

async function showResults(params) {
  const query = params.get("q");
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const ask = new URLSearchParams({q: query, limit: String(PAGE_SIZE), offset: String(offset), facets: "source,author,year"});
  for (const key of ["source", "author", "tag"]) for (const value of params.getAll(key)) ask.append(key, value);
  for (const key of ["from", "to", "sort"]) if (params.get(key)) ask.set(key, params.get(key));
  $("status").textContent = "搜索中…";
  const result = await api("/search?" + ask.toString());
  $("status").textContent = result.total ? "找到 " + result.total + " 篇文章" : "没有找到包含这些关键词的文章";
  const results = $("results");
  results.replaceChildren();
  if (result.partial) results.append(el("p", {class: "note"}, "没有同时包含所有关键词的文章，下面是部分匹配的结果。"));
  const list = el("ol", {class: "hits", start: String(offset + 1)});
  for (const hit of result.hits) list.append(hitView(hit, params));
  results.append(list);
  if (result.total > PAGE_SIZE || offset > 0) results.append(pager(result.total, offset));
  $("active").replaceChildren(activeFilters(params));
  const facets = $("facets");
  facets.replaceChildren();
  for (const [name, label] of FACETS) {
    const view = facetView(name, label, (result.facets || {})[name], params);
    if (view) facets.append(view);
  }
  $("refine").hidden = false;
}

async function showArticle(params) {
  const query = params.get("q") || "";
  const path = "/articles/" + encodeURIComponent(params.get("article")) + (query ? "?" + new URLSearchParams({q: query}) : "");
  const article = await api(path);
  const marks = article.highlights || {title: [], paragraphs: []};
  const view = $("article");
  const back = linkTo({article: null, offset: params.get("offset")});
  view.replaceChildren(
    el("p", {}, el("a", {href: back, class: "back"}, query ? "← 返回搜索结果" : "← 返回")),
    el("h1", {tabindex: "-1"}, marked(article.title, marks.title)),
    metadata(article),
  );
  article.paragraphs.forEach((text, index) => view.append(el("p", {class: "paragraph"}, marked(text, marks.paragraphs[index]))));
  view.hidden = false;
  $("layout").hidden = true;
  document.title = article.title + " · searchkit";
  view.querySelector("h1").focus();
}

// Each form keeps the rest of the state, and a new query starts at its first page.
function keepState(form, own) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const changes = {};
    for (const name of own) changes[name] = form.elements[name].value.trim() || null;
    window.location.assign(linkTo(changes));
  });
}

async function main() {
  const params = state();
  $("q").value = params.get("q") || "";
  $("sort").value = params.get("sort") || "relevance";
  $("from").value = params.get("from") || "";
  $("to").value = params.get("to") || "";
  keepState($("search"), ["q"]);
  keepState($("sorting"), ["sort"]);
  keepState($("dates"), ["from", "to"]);
  $("sort").addEventListener("change", () => $("sorting").requestSubmit());
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement.tagName !== "INPUT") {
      event.preventDefault();
      $("q").focus();
    }
  });
  try {
    if (params.get("article")) await showArticle(params);
    else if ((params.get("q") || "").trim()) await showResults(params);
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
  }
}

main();
