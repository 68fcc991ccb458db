// ccpulse wallboard: the page at "/". It asks the service for the figures every second
// and draws them. Names and figures come from producers' data, so they are put in the
// page as text only (text nodes, textContent, dataset): no markup is ever built from
// data, and the Content-Security-Policy of the page forbids inline script anyway.
//
// URL parameters (for a kiosk): window=5m|15m|1h|today, queues=a,b, channels=voice,chat,
// theme=dark|light. Thresholds come from GET /api/v1/wallboard/settings.
//
// Access: a kiosk opens the page as /#token=<wallboard token>. The fragment never leaves
// the browser (no server or proxy log sees it); the page keeps the token in the
// browser's storage, takes it out of the address bar, and sends it as
// `Authorization: Bearer` with every request.
"use strict";

(() => {
  const REFRESH_MS = 1000;
  const REQUEST_TIMEOUT_MS = 5000;
  const EPS = 1e-9;
  const DASH = "\u2013";
  const MINUS = "\u2212";
  // Colour is never the only signal: each level has a symbol and a word.
  const MARK = ["\u2713", "\u25b2", "\u2716"]; // check, triangle, cross
  const WINDOW_NAMES = { "5m": "5 minutes", "15m": "15 minutes", "1h": "1 hour", today: "today" };
  const GRID = [
    [1, 1], [1, 1], [2, 1], [3, 1], [2, 2], [3, 2], [3, 2],
    [4, 2], [4, 2], [3, 3], [4, 3], [4, 3], [4, 3],
  ];

  // ---- the view a kiosk asked for ------------------------------------------------------

  const params = new URLSearchParams(window.location.search);
  const listParam = (name) => {
    const v = params.get(name);
    if (v === null) return null;
    const items = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
    return items.length ? items : null;
  };
  const view = {
    window: params.get("window") || "15m",
    queues: listParam("queues"),
    channels: listParam("channels"),
    theme: params.get("theme") === "light" ? "light" : "dark",
  };
  document.documentElement.dataset.theme = view.theme;
  const CHANNELS = ["voice", "chat", "email"];
  const badChannel = (view.channels || []).find((c) => !CHANNELS.includes(c));

  const queueShown = (q) => view.queues === null || view.queues.includes(q);
  const channelShown = (c) => view.channels === null || view.channels.includes(c);

  // ---- the kiosk's token ---------------------------------------------------------------

  const TOKEN_KEY = "ccpulse-wallboard-token";
  const token = (() => {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const given = fragment.get("token");
    try {
      if (given) {
        window.localStorage.setItem(TOKEN_KEY, given);
      }
    } catch (e) {
      // Storage refused (a private window): the token lives as long as the page.
    }
    if (given) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
      return given;
    }
    try {
      return window.localStorage.getItem(TOKEN_KEY);
    } catch (e) {
      return null;
    }
  })();

  // A token given later (the address changed to /#token=… on a page already open) is
  // taken by loading the page again.
  window.addEventListener("hashchange", () => {
    if (new URLSearchParams(window.location.hash.replace(/^#/, "")).get("token")) window.location.reload();
  });

  // ---- talking to the service ----------------------------------------------------------

  class ServiceError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status; // 0: no answer at all; -1: not the service's (the URL, the page)
    }
  }

  // Every request to the service goes through here, with the kiosk's token when it has one.
  async function api(path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(path, {
        headers,
        cache: "no-store",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new ServiceError(0, "the service does not answer");
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const why = body && typeof body.error === "string" ? body.error : "HTTP " + resp.status;
      throw new ServiceError(resp.status, why);
    }
    if (body === null || typeof body !== "object") {
      throw new ServiceError(resp.status, "the answer of " + path + " is not JSON");
    }
    return body;
  }

  // Every queue group of the window, following the pages of the answer.
  async function queueGroups(w) {
    const path = "/api/v1/queues?window=" + encodeURIComponent(w);
    const first = await api(path);
    let next = first.next_offset;
    while (next !== null && next !== undefined) {
      const more = await api(path + "&offset=" + next);
      first.groups = first.groups.concat(more.groups);
      next = more.next_offset;
    }
    return first;
  }

  // ---- formatting ----------------------------------------------------------------------

  const missing = (v) => v === null || v === undefined;
  // Ratios as percentages with one decimal (half up); null is a dash, never 0.
  const pct = (v) => (missing(v) ? DASH : (Math.round(v * 1000) / 10).toFixed(1) + "%");
  const count = (v) => (missing(v) ? DASH : String(v));
  const two = (n) => (n < 10 ? "0" : "") + n;
  // Durations as m:ss (h:mm:ss from an hour on), whole seconds half up.
  const mss = (s) => {
    if (missing(s)) return DASH;
    const t = Math.round(s);
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    return h > 0 ? h + ":" + two(m) + ":" + two(t % 60) : m + ":" + two(t % 60);
  };
  const nps = (v) => {
    if (missing(v)) return DASH;
    const r = Math.round(v);
    return r > 0 ? "+" + r : r < 0 ? MINUS + -r : "0";
  };
  const clock = (ms) => {
    const d = new Date(ms);
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  };
  const sentence = (s) => (/[.!?]$/.test(s) ? s : s + ".");
  const windowName = (w) => WINDOW_NAMES[w] || w;
  const channelName = (c) => (c === "all" ? "ALL CHANNELS" : c.toUpperCase());

  // ---- thresholds ----------------------------------------------------------------------

  // 0 below amber, 1 at or above amber, 2 at or above red.
  const atLeast = (v, amber, red) => (missing(v) ? 0 : v >= red - EPS ? 2 : v >= amber - EPS ? 1 : 0);

  // Service level: red when breached or below target by more than the margin, amber when
  // below target within the margin.
  function serviceLevel(g, margin) {
    if (g.breached) return 2;
    if (missing(g.service_level) || missing(g.sla_target)) return 0;
    const below = g.sla_target - g.service_level;
    return below > margin + EPS ? 2 : below > EPS ? 1 : 0;
  }

  // The level of each judged figure of a group, and of the group: the worst of `shown`
  // (every judged figure when not given).
  function judge(g, settings, shown) {
    const th = settings.channels[g.channel];
    const lv = {
      service_level: serviceLevel(g, settings.amber_margin),
      at_risk: g.at_risk > 0 ? 1 : 0,
      waiting: th ? atLeast(g.waiting, th.waiting_amber, th.waiting_red) : 0,
      oldest_wait_seconds: th
        ? atLeast(g.oldest_wait_seconds, th.oldest_wait_amber_seconds, th.oldest_wait_red_seconds)
        : 0,
      abandon_rate: th ? atLeast(g.abandon_rate, th.abandon_rate_amber, th.abandon_rate_red) : 0,
    };
    // Closed by its business hours: contacts wait by design, so the live figures raise
    // no colour (the windowed ones still do).
    if (g.open === false) {
      lv.at_risk = 0;
      lv.waiting = 0;
      lv.oldest_wait_seconds = 0;
    }
    const judged = shown ? shown.map((k) => lv[k]) : Object.values(lv);
    return { lv, level: Math.max(...judged) };
  }

  // Agents serving the queue now against the agents Erlang C asks for the window's load
  // ("6/8"); a dash where Erlang C does not apply (email, `resolve` policies, no load).
  function staffing(g) {
    return missing(g.agents_required) ? DASH : count(g.agents_staffed) + "/" + count(g.agents_required);
  }

  // Short of agents: amber; short by 2 or more, or by a fifth of the requirement or more
  // (the CcpulseUnderstaffed alert's rule): red. Not while the queue is closed. The
  // figure's own colour only: the tile's colour stays that of its service and waits.
  function staffingLevel(g) {
    if (missing(g.staffing_gap) || g.staffing_gap >= 0 || g.open === false) return 0;
    const short = -g.staffing_gap;
    return short >= 2 || short >= 0.2 * g.agents_required ? 2 : 1;
  }

  function statusWord(level, g) {
    if (level === 2) return MARK[2] + " " + (g.breached ? "BREACH" : "ALERT");
    if (level === 1) return MARK[1] + " WARNING";
    if (g.open === false) return "CLOSED";
    return MARK[0] + " OK";
  }

  // ---- building the page (text only) ---------------------------------------------------

  function el(tag, cls, ...children) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  // A figure's value, marked with its field name (for tests and scrapers).
  function value(field, text, cls) {
    const e = el("span", cls || "v", text);
    e.dataset.field = field;
    return e;
  }

  // A labelled figure; its level colours it and puts a symbol before its label.
  function fig(label, field, text, level) {
    return el(
      "div",
      "fig lvl" + level,
      el("div", "fig-label", level > 0 ? el("span", "mark", MARK[level] + " ") : null, label),
      el("div", "fig-value", value(field, text)),
    );
  }

  function tile(g, settings, agentsByQueue) {
    const { lv, level } = judge(g, settings);
    const status = el("span", "status", statusWord(level, g));
    status.dataset.field = "status";
    const head = el(
      "header",
      "tile-head",
      el("span", "name", g.queue),
      el("span", "chan", channelName(g.channel)),
      status,
    );
    const sl = el(
      "div",
      "sl",
      el("div", "sl-value lvl" + lv.service_level, value("service_level", pct(g.service_level))),
      missing(g.sla_target)
        ? el("div", "sl-target", "no SLA policy")
        : el(
            "div",
            "sl-target",
            missing(g.service_level) ? null : el("span", "mark lvl" + lv.service_level, MARK[lv.service_level] + " "),
            "SL target ",
            value("sla_target", pct(g.sla_target)),
            " in ",
            value("sla_threshold_seconds", mss(g.sla_threshold_seconds)),
          ),
    );
    const figs = el(
      "div",
      "figs",
      fig("Waiting", "waiting", count(g.waiting), lv.waiting),
      fig("Oldest", "oldest_wait_seconds", mss(g.oldest_wait_seconds), lv.oldest_wait_seconds),
      fig("At risk", "at_risk", count(g.at_risk), lv.at_risk),
      fig("ASA", "asa_seconds", mss(g.asa_seconds), 0),
      fig("Answered", "answer_rate", pct(g.answer_rate), 0),
      fig("Abandoned", "abandon_rate", pct(g.abandon_rate), lv.abandon_rate),
      fig("AHT", "aht_seconds", mss(g.aht_seconds), 0),
      fig("Offered", "offered", count(g.offered), 0),
      fig("Staffed", "staffing", staffing(g), staffingLevel(g)),
    );
    const a = agentsByQueue.get(g.queue);
    const n = (field) => value("agents_" + field, a ? count(a[field]) : DASH, "n");
    const foot = el(
      "footer",
      "tile-agents",
      el("span", "agents-label", "Agents"),
      n("available"), " available", el("span", "sep", " \u00b7 "),
      n("busy"), " busy", el("span", "sep", " \u00b7 "),
      n("acw"), " ACW", el("span", "sep", " \u00b7 "),
      n("away"), " away",
    );
    const t = el("article", "tile lvl" + level, head, el("div", "tile-body", sl, figs), foot);
    t.dataset.queue = g.queue;
    t.dataset.channel = g.channel;
    t.dataset.level = String(level);
    return t;
  }

  // A channel's totals, coloured by the figures the card shows.
  function channelCard(g, settings) {
    const { lv, level } = judge(g, settings, ["service_level", "waiting", "abandon_rate"]);
    const card = el(
      "article",
      "chan-card lvl" + level,
      el(
        "header",
        "chan-head",
        el("span", "chan-name", channelName(g.channel)),
        el(
          "span",
          "chan-sl lvl" + lv.service_level,
          missing(g.service_level) ? null : el("span", "mark", MARK[lv.service_level] + " "),
          value("service_level", pct(g.service_level)),
        ),
      ),
      el(
        "div",
        "chan-figs",
        fig("Offered", "offered", count(g.offered), 0),
        fig("Waiting", "waiting", count(g.waiting), lv.waiting),
        fig("Abandoned", "abandon_rate", pct(g.abandon_rate), lv.abandon_rate),
        fig("FCR", "fcr", pct(g.fcr), 0),
        fig("CSAT", "csat", pct(g.csat), 0),
        fig("NPS", "nps", nps(g.nps), 0),
      ),
    );
    card.dataset.channel = g.channel;
    card.dataset.level = String(level);
    return card;
  }

  function agentsPanel(states) {
    const teams = states.teams || [];
    const total = { available: 0, busy: 0, acw: 0, away: 0 };
    for (const t of teams) for (const k of Object.keys(total)) total[k] += t[k];
    const big = (label, field) =>
      el("div", "agent-total", value("agents_" + field, count(total[field]), "n"), el("div", "fig-label", label));
    const rows = teams.map((t) => {
      const row = el(
        "div",
        "team",
        el("span", "team-name", t.name),
        el("span", "n", count(t.available)),
        el("span", "n", count(t.busy)),
        el("span", "n", count(t.acw)),
        el("span", "n", count(t.away)),
      );
      row.dataset.team = t.name;
      return row;
    });
    const head = el("div", "team team-head", el("span", "team-name", "Team"), el("span", "n", "avail"),
      el("span", "n", "busy"), el("span", "n", "ACW"), el("span", "n", "away"));
    const list = el("div", "teams", head, ...rows);
    return {
      nodes: [
        el("div", "agents-title", "AGENTS"),
        el("div", "agent-totals", big("Available", "available"), big("Busy", "busy"), big("ACW", "acw"),
          big("Away", "away")),
        list,
      ],
      list,
      rows,
    };
  }

  // Drops team rows that do not fit, saying how many are not shown.
  function fitTeams(list, rows) {
    let hidden = 0;
    while (list.scrollHeight > list.clientHeight + 1 && rows.length > hidden) {
      rows[rows.length - 1 - hidden].remove();
      hidden += 1;
      const more = list.querySelector(".more") || list.appendChild(el("div", "team more"));
      more.textContent = "+" + hidden + " more team" + (hidden > 1 ? "s" : "");
    }
  }

  // ---- state and rendering -------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const state = {
    settings: null,
    data: null, // the last complete set of answers
    fetchedAt: null, // when it was received (ms)
    error: null, // the last refresh's error, if it failed
    failingSince: null,
    page: 0,
    pages: 1,
  };

  // The coverage of all the answers together: the least covered, every stale partition.
  function coverage(d) {
    const all = [d.queues.coverage, d.channels.coverage, d.breaches.coverage].filter(Boolean);
    const stale = new Set();
    let partitions = 0;
    let covered = Infinity;
    let age = null;
    for (const c of all) {
      partitions = Math.max(partitions, c.partitions);
      covered = Math.min(covered, c.covered);
      for (const p of c.stale) stale.add(p);
      if (!missing(c.data_age_seconds)) age = Math.max(age === null ? 0 : age, c.data_age_seconds);
    }
    return { partitions, covered: covered === Infinity ? 0 : covered, stale: [...stale].sort((a, b) => a - b), age };
  }

  function overlay() {
    const e = state.error;
    const d = state.data;
    let kind = null;
    let title = "";
    const lines = [];
    if (e && e.status === 0) {
      kind = "unreachable";
      title = "NO CONNECTION";
      const since = state.failingSince;
      lines.push(
        "The ccpulse service cannot be reached" +
          (since ? " since " + clock(since) + " (" + mss((Date.now() - since) / 1000) + " ago)." : "."),
      );
      if (d) lines.push("The figures shown are those received at " + clock(state.fetchedAt) + ".");
    } else if (e && (e.status === 401 || e.status === 403)) {
      kind = "error";
      title = "A WALLBOARD TOKEN IS NEEDED";
      lines.push("The service answers: " + sentence(e.message));
      lines.push("Open this page as /#token=<wallboard token> (issued with `ccpulse token --role wallboard`).");
    } else if (e && e.status === 503) {
      kind = "starting";
      title = "NO FIGURES YET";
      lines.push("The service answers: " + sentence(e.message));
    } else if (e) {
      kind = "error";
      title = "CANNOT SHOW THIS VIEW";
      lines.push((e.status > 0 ? "The service answers: " : "") + sentence(e.message));
    } else if (!d) {
      kind = "loading";
      title = "CONNECTING";
      lines.push("Waiting for the first answer of the ccpulse service.");
    } else {
      const c = coverage(d);
      const incomplete = c.covered < c.partitions;
      const stale = c.stale.length > 0;
      if (incomplete || stale) {
        kind = stale ? "stale" : "incomplete";
        title = incomplete && stale ? "INCOMPLETE AND STALE VIEW" : incomplete ? "INCOMPLETE VIEW" : "STALE DATA";
        if (incomplete) {
          lines.push(
            "The figures cover " + c.covered + " of " + c.partitions +
              " partitions: contacts of the others are not counted.",
          );
        }
        if (stale) {
          const many = c.stale.length > 1;
          lines.push(
            (many ? "Partitions " : "Partition ") + c.stale.join(", ") + " (" + c.stale.length + " of " +
              c.partitions + ") " + (many ? "are not up to date; their" : "is not up to date; its") +
              " last figures are shown.",
          );
        }
        lines.push("Data age: " + (c.age === null ? "unknown" : mss(c.age)) + ".");
      }
    }
    const o = $("overlay");
    o.hidden = kind === null;
    o.dataset.kind = kind || "";
    document.documentElement.classList.toggle("degraded", kind !== null);
    $("overlay-title").textContent = kind === null ? "" : "\u26a0 " + title;
    $("overlay-detail").replaceChildren(...lines.map((l) => el("p", null, l)));
  }

  function header(d, pages) {
    const parts = [windowName(view.window)];
    if (view.queues) parts.push("queues: " + view.queues.join(", "));
    if (view.channels) parts.push("channels: " + view.channels.join(", "));
    const c = coverage(d);
    const scope = $("scope");
    scope.replaceChildren(
      el("span", "window", parts.join(" \u00b7 ")),
      el("span", "coverage", " \u00b7 " + c.covered + "/" + c.partitions + " partitions"),
    );
    const pager = $("pager");
    if (pages > 1) {
      const dots = [];
      for (let i = 0; i < pages; i += 1) dots.push(i === state.page ? "\u25cf" : "\u25cb");
      pager.textContent = "page " + (state.page + 1) + " / " + pages + "  " + dots.join("");
    } else {
      pager.textContent = "";
    }
    $("clock").textContent = clock(Date.parse(d.queues.to));
  }

  function banner(d) {
    const b = $("banner");
    const evaluated = Date.parse(d.breaches.evaluated_at);
    const mine = d.breaches.breaches.filter((x) =>
      x.window === view.window &&
      (x.queue === null
        ? view.queues === null && (x.channel === "all" ? view.channels === null : channelShown(x.channel))
        : queueShown(x.queue) && channelShown(x.channel)));
    if (!mine.length) {
      b.hidden = true;
      b.replaceChildren();
      return;
    }
    b.hidden = false;
    const items = mine.map((x) => {
      const who = x.queue === null ? channelName(x.channel) : x.queue + " \u00b7 " + x.channel;
      const item = el(
        "span",
        "breach",
        el("span", "who", who),
        el(
          "span",
          "what",
          " " + pct(x.service_level) + " < " + pct(x.target) + " for " + mss((evaluated - Date.parse(x.since)) / 1000),
        ),
      );
      item.dataset.queue = x.queue === null ? "" : x.queue;
      item.dataset.channel = x.channel;
      return item;
    });
    b.replaceChildren(
      el("span", "breach-count", MARK[2] + " " + mine.length + " SLA BREACH" + (mine.length > 1 ? "ES" : "")),
      ...items,
    );
    // Breaches that do not fit the line are counted, not cut in the middle.
    let hidden = 0;
    while (b.scrollWidth > b.clientWidth + 1 && items.length - hidden > 1) {
      items[items.length - 1 - hidden].remove();
      hidden += 1;
      const more = b.querySelector(".more") || b.appendChild(el("span", "more"));
      more.textContent = "+" + hidden + " more";
    }
    // One breach wider than the line: its name gives way (an ellipsis), not its figures.
    if (b.scrollWidth > b.clientWidth + 1) items[0].classList.add("shrink");
  }

  function tiles(d) {
    const groups = d.queues.groups.filter((g) => queueShown(g.queue) && channelShown(g.channel));
    const max = state.settings.tiles_per_page;
    const pages = Math.max(1, Math.ceil(groups.length / max));
    const per = Math.max(1, Math.ceil(groups.length / pages));
    if (state.page >= pages) state.page = 0;
    state.pages = pages;
    const shown = groups.slice(state.page * per, state.page * per + per);
    const agentsByQueue = new Map((d.agents.queues || []).map((q) => [q.name, q]));
    const [cols, rows] = GRID[Math.min(shown.length, GRID.length - 1)];
    const t = $("tiles");
    t.className = "tiles c" + cols + " r" + rows;
    if (!shown.length) {
      const when = view.window === "today" ? "today" : "in the last " + windowName(view.window);
      const where = view.queues ? " in " + view.queues.join(", ") : "";
      t.replaceChildren(el("div", "empty", "No contacts" + where + " " + when + "."));
    } else {
      t.replaceChildren(...shown.map((g) => tile(g, state.settings, agentsByQueue)));
    }
    document.body.dataset.page = String(state.page + 1);
    document.body.dataset.pages = String(pages);
    return pages;
  }

  function bottom(d) {
    const cards = d.channels.groups
      .filter((g) => (g.channel === "all" ? view.channels === null : channelShown(g.channel)))
      .map((g) => channelCard(g, state.settings));
    const ch = $("channels");
    ch.className = "channels n" + cards.length;
    ch.replaceChildren(...cards);
    const panel = agentsPanel(d.agents);
    $("agents").replaceChildren(...panel.nodes);
    fitTeams(panel.list, panel.rows);
  }

  function render() {
    overlay();
    const d = state.data;
    if (!d || !state.settings) return;
    const pages = tiles(d);
    header(d, pages);
    banner(d);
    bottom(d);
    document.body.dataset.to = d.queues.to;
  }

  let rotation = null;

  async function refresh() {
    try {
      if (badChannel !== undefined) {
        throw new ServiceError(-1, "the URL asks for channel \"" + badChannel + "\"; channels are " + CHANNELS.join(", "));
      }
      if (!state.settings) {
        state.settings = await api("/api/v1/wallboard/settings");
        if (rotation === null) {
          rotation = setInterval(() => {
            state.page = (state.page + 1) % state.pages;
            render();
          }, state.settings.page_seconds * 1000);
        }
      }
      const w = encodeURIComponent(view.window);
      const [queues, channels, agents, breaches] = await Promise.all([
        queueGroups(view.window),
        api("/api/v1/channels?window=" + w),
        api("/api/v1/agents/states"),
        api("/api/v1/breaches"),
      ]);
      state.data = { queues, channels, agents, breaches };
      state.fetchedAt = Date.now();
      state.error = null;
      state.failingSince = null;
    } catch (e) {
      state.error = e instanceof ServiceError ? e : new ServiceError(-1, String(e));
      if (state.failingSince === null) state.failingSince = Date.now();
    }
    try {
      render();
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
