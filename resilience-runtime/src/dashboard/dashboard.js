// The resilience dashboard: one card per instance, updated in place from
// the server-sent stream (./stream). No framework, nothing loaded from
// elsewhere; every URL is relative to the page.
"use strict";

(() => {
  const HISTORY = 60; // frames kept for the sparkline: 30 s at 2 per second
  const LAYERS = {
    circuit_breaker: "circuit breaker", retry: "retry", timeout: "timeout",
    adaptive_timeout: "adaptive timeout", bulkhead: "bulkhead", rate_limiter: "rate limiter",
    hedge: "hedge", fallback: "fallback", stale_cache: "stale cache", chaos: "chaos",
  };
  const STATES = {
    closed: "Closed", open: "Open", half_open: "Half-open", forced_open: "Forced open", disabled: "Disabled",
  };
  const STATUSES = { UP: "Up", DEGRADED: "Degraded", DOWN: "Down" };
  const SVG = "http://www.w3.org/2000/svg";

  const $cards = document.getElementById("cards");
  const $summary = document.getElementById("summary");
  const $filter = document.getElementById("filter");
  const $connection = document.getElementById("connection");
  const $empty = document.getElementById("empty");
  const cards = new Map(); // key -> card record
  let order = [];          // keys in the order the DOM has them
  let query = "";
  let frames = 0;
  let uid = 0;

  // ------------------------------------------------------------ helpers --
  const ms = (d) => (d == null ? null : d.secs * 1000 + d.nanos / 1e6);
  function fmtMs(v) {
    if (v == null) return "–";
    if (v < 1) return v.toFixed(2) + " ms";
    if (v < 1000) return Math.round(v) + " ms";
    return (v / 1000).toFixed(v < 10000 ? 2 : 1) + " s";
  }
  const pct = (x) => (x == null || isNaN(x) ? "–" : (x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0) + " %");
  const rate = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function policyOf(inst) {
    const p = {};
    for (const s of inst.policy || []) p[s.key] = s.value;
    return p;
  }
  function clock(at) {
    const d = new Date(at);
    return d.toTimeString().slice(0, 8);
  }

  // ------------------------------------------------------------- events --
  function describe(e) {
    const d = e.detail || {};
    switch (d.event) {
      case "state_transition": return `${STATES[d.from] || d.from} → ${STATES[d.to] || d.to}`;
      case "call_rejected": return `rejected: ${d.reason}` + (d.retry_after ? `, retry after ${fmtMs(ms(d.retry_after))}` : "");
      case "retry": return `retry, attempt ${d.attempt} in ${fmtMs(ms(d.delay))}: ${d.error}`;
      case "retries_exhausted": return `gave up after ${d.attempts} attempts (${d.reason}): ${d.error}`;
      case "timeout": return `timed out after ${fmtMs(ms(d.after))}`;
      case "hedge_started": return `hedge ${d.hedge} started`;
      case "fallback_used": return `fallback level ${d.level}: ${d.error}`;
      case "stale_served": return `served a stale answer, ${fmtMs(ms(d.age))} old`;
      case "config_reloaded": return `configuration reloaded from ${d.source}`;
      case "fault_injected": return `chaos: ${d.fault} injected`;
      default: return d.event || "event";
    }
  }

  // --------------------------------------------------------------- card --
  function createCard(inst, key) {
    const id = "card-" + (++uid);
    const root = el("article", "card");
    root.setAttribute("aria-labelledby", id);
    root.dataset.kind = inst.kind;
    root.dataset.name = inst.name;
    const header = el("header");
    const h = el("h3", null, inst.name);
    h.id = id;
    const layer = el("span", "layer", LAYERS[inst.kind] || inst.kind);
    const scope = el("span", "scope", inst.scope === "named" ? "named" : "private");
    const state = el("span", "state");
    header.append(h, layer, scope, state);
    const reason = el("p", "reason");
    reason.hidden = true;
    const stats = el("dl", "stats");
    const spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", `0 0 ${HISTORY - 1} 100`);
    spark.setAttribute("preserveAspectRatio", "none");
    spark.setAttribute("role", "img");
    const lines = {};
    for (const k of ["ok", "rejected", "failed"]) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", k);
      spark.append(line);
      lines[k] = line;
    }
    const events = el("ol", "events");
    events.setAttribute("aria-label", "last events, newest first");
    root.append(header, reason, stats, spark, events);
    const card = {
      key, root, state, reason, stats, spark, lines, events,
      rows: new Map(), prev: null, hist: [], trouble: 3, eventsSig: "",
      search: (inst.name + " " + inst.kind + " " + (LAYERS[inst.kind] || "")).toLowerCase(),
    };
    root.hidden = !matches(card);
    return card;
  }

  // One <dt>/<dd> pair per statistic, made on first use.
  function row(card, key, label) {
    let r = card.rows.get(key);
    if (!r) {
      const dt = el("dt", null, label);
      const dd = el("dd");
      const text = el("span");
      dd.append(text);
      card.stats.append(dt, dd);
      r = { dt, dd, text, meter: null };
      card.rows.set(key, r);
    }
    return r;
  }
  function stat(card, key, label, text, { fill = null, mark = null, over = false } = {}) {
    const r = row(card, key, label);
    setText(r.text, text);
    if (r.dd.classList.contains("over") !== over) r.dd.classList.toggle("over", over);
    if (fill != null) {
      if (!r.meter) {
        r.meter = el("span", "meter");
        r.meter.setAttribute("aria-hidden", "true");
        r.fill = el("i");
        r.mark = el("b");
        r.meter.append(r.fill, r.mark);
        r.dd.append(r.meter);
      }
      const w = Math.max(0, Math.min(100, fill * 100)).toFixed(1) + "%";
      if (r.fill.style.width !== w) r.fill.style.width = w;
      r.mark.hidden = mark == null;
      if (mark != null) {
        const left = Math.max(0, Math.min(100, mark * 100)).toFixed(1) + "%";
        if (r.mark.style.left !== left) r.mark.style.left = left;
      }
    }
  }

  function updateCard(card, inst, frame) {
    const s = inst.snapshot || {};
    const p = policyOf(inst);
    // State: a breaker's own state, else the instance's health.
    let value, label;
    if (inst.kind === "circuit_breaker" && s.state) {
      value = s.state;
      label = STATES[s.state] || s.state;
    } else {
      value = (inst.status || "UP").toLowerCase();
      label = STATUSES[inst.status] || inst.status;
    }
    if (card.state.dataset.value !== value) card.state.dataset.value = value;
    setText(card.state, label);
    if (card.root.dataset.state !== value) card.root.dataset.state = value;
    card.reason.hidden = !inst.reason;
    setText(card.reason, inst.reason || "");

    // Calls per second by outcome, from the counters' change since the
    // last frame this page saw (frames a slow page skipped included).
    const calls = s.calls;
    let perSec = null;
    if (calls) {
      if (card.prev && frame.t_ms > card.prev.t) {
        const dt = (frame.t_ms - card.prev.t) / 1000;
        perSec = {
          ok: Math.max(0, calls.succeeded - card.prev.calls.succeeded) / dt,
          failed: Math.max(0, calls.failed - card.prev.calls.failed) / dt,
          rejected: Math.max(0, calls.rejected - card.prev.calls.rejected) / dt,
        };
        card.hist.push(perSec);
        if (card.hist.length > HISTORY) card.hist.shift();
      }
      card.prev = { t: frame.t_ms, calls };
      const r = perSec || { ok: 0, failed: 0, rejected: 0 };
      stat(card, "rate", "calls/s", `${rate(r.ok)} ok · ${rate(r.failed)} failed · ${rate(r.rejected)} rejected`);
      stat(card, "total", "calls", `${calls.succeeded} ok · ${calls.failed} failed · ${calls.rejected} rejected`);
      drawSpark(card);
    } else {
      card.spark.classList.add("none");
    }

    switch (inst.kind) {
      case "circuit_breaker": breaker(card, s, p); break;
      case "retry":
        stat(card, "kinds", "retry kinds",
          `${s.successful_without_retry} ok first try · ${s.successful_with_retry} ok after retry · ` +
          `${s.failed_without_retry} failed, not retried · ${s.failed_with_retry} failed after retries`);
        stat(card, "retries", "retries", `${s.retries} (max_attempts ${p.max_attempts || "–"}` +
          (p.budget ? `, budget ${p.budget}` : "") + ")");
        break;
      case "timeout":
        stat(card, "timeout", "timeout in force", fmtMs(ms(s.timeout)));
        break;
      case "adaptive_timeout": {
        stat(card, "timeout", "timeout in force", fmtMs(ms(s.current)) +
          (p.min && p.max ? ` (between ${p.min} and ${p.max})` : ""));
        stat(card, "observed", "observed", s.observed ? `${fmtMs(ms(s.observed))} at q ${p.quantile || "?"}, ${s.samples} samples` : `${s.samples} samples`);
        break;
      }
      case "bulkhead": {
        const max = s.max_concurrent || 0;
        stat(card, "in_use", "in use / max", `${s.in_use} / ${max} · ${s.waiting} waiting`,
          { fill: max ? s.in_use / max : 0, over: s.available === 0 && s.waiting > 0 });
        stat(card, "rejected", "rejected (full)", String(s.rejected));
        break;
      }
      case "rate_limiter": {
        const burst = s.burst || 0;
        stat(card, "available", "available", `${s.available} / ${burst}` + (p.rate ? ` · ${p.rate} per ${p.per || "1s"}` : ""),
          { fill: burst ? s.available / burst : 0, over: s.available === 0 });
        stat(card, "rejected", "rejected (limited)", String(s.rejected));
        break;
      }
      case "hedge":
        stat(card, "delay", "hedge delay", s.delay ? fmtMs(ms(s.delay)) : "adaptive, not yet");
        stat(card, "hedges", "hedges", `${s.hedges_started} started · ${s.hedges_won} won`);
        break;
      case "fallback":
        stat(card, "levels", "levels used", (s.levels_used || []).map((n, i) => `${i + 1}: ${n}`).join(" · ") || "none");
        break;
      default:
        for (const [k, v] of Object.entries(s)) {
          if (typeof v === "number") stat(card, k, k.replace(/_/g, " "), String(v));
        }
    }
    if (inst.conflicts) stat(card, "conflicts", "conflicts", `${inst.conflicts} call sites with other settings`, { over: true });

    // Trouble: down, then degraded or a circuit not closed, then failing
    // or rejecting calls now, then the rest.
    let trouble = 3;
    if (inst.status === "DOWN") trouble = 0;
    else if (inst.status === "DEGRADED" || (s.state && s.state !== "closed" && s.state !== "disabled")) trouble = 1;
    else if (perSec && (perSec.failed > 0 || perSec.rejected > 0)) trouble = 2;
    card.trouble = trouble;
    const t = String(trouble);
    if (card.root.dataset.trouble !== t) card.root.dataset.trouble = t;

    renderEvents(card, inst.events || []);
  }

  function breaker(card, s, p) {
    if (p.failure_rate != null) {
      const threshold = parseFloat(p.failure_rate);
      const r = s.failure_rate;
      stat(card, "failure", "failure rate", `${pct(r)} of ${s.calls_in_window} calls (opens at ${pct(threshold)}, min ${p.min_calls} calls)`,
        { fill: r || 0, mark: threshold, over: r != null && r >= threshold });
    } else {
      const threshold = parseInt(p.failure_threshold || "0", 10);
      stat(card, "failure", "failures in a row", `${s.consecutive_failures} (opens at ${threshold})`,
        { fill: threshold ? s.consecutive_failures / threshold : 0, mark: 1, over: threshold > 0 && s.consecutive_failures >= threshold });
    }
    if (p.slow_call_rate != null) {
      const threshold = parseFloat(p.slow_call_rate);
      const r = s.calls_in_window ? s.slow_calls_in_window / s.calls_in_window : null;
      stat(card, "slow", "slow-call rate", `${pct(r)} slower than ${p.slow_call} (opens at ${pct(threshold)})`,
        { fill: r || 0, mark: threshold, over: r != null && r >= threshold });
    }
    stat(card, "open_for", "open for", `${p.open_for || "–"} · ${s.rejections} rejected` +
      (s.trials_in_flight ? ` · ${s.trials_in_flight} trial calls` : ""));
  }

  function drawSpark(card) {
    const h = card.hist;
    card.spark.classList.remove("none");
    let max = 1;
    for (const p of h) max = Math.max(max, p.ok, p.failed, p.rejected);
    const offset = HISTORY - h.length;
    for (const k of ["ok", "failed", "rejected"]) {
      let pts = "";
      for (let i = 0; i < h.length; i++) {
        pts += `${offset + i},${(100 - (h[i][k] / max) * 96 - 2).toFixed(1)} `;
      }
      card.lines[k].setAttribute("points", pts);
    }
    const last = h[h.length - 1];
    const label = last ? `calls per second, last ${h.length} frames; now ${rate(last.ok)} ok, ${rate(last.failed)} failed, ${rate(last.rejected)} rejected` : "calls per second";
    if (card.spark.getAttribute("aria-label") !== label) card.spark.setAttribute("aria-label", label);
  }

  function renderEvents(card, events) {
    const last = events[events.length - 1];
    const sig = last ? `${events.length}:${last.at}:${describe(last)}` : "";
    if (sig === card.eventsSig) return;
    card.eventsSig = sig;
    const items = [];
    for (let i = events.length - 1; i >= 0; i--) {
      const li = el("li");
      const time = el("time", null, clock(events[i].at));
      time.dateTime = new Date(events[i].at).toISOString();
      const text = describe(events[i]);
      li.append(time, text);
      li.title = text;
      items.push(li);
    }
    card.events.replaceChildren(...items);
  }

  // ------------------------------------------------------------- frames --
  function matches(card) {
    return query === "" || card.search.includes(query);
  }

  function applyFrame(frame) {
    const started = performance.now();
    const seen = new Set();
    for (const inst of frame.instances) {
      const key = `${inst.kind}\u0000${inst.scope}\u0000${inst.name}`;
      seen.add(key);
      let card = cards.get(key);
      if (!card) {
        card = createCard(inst, key);
        card.order = inst.kind + "\u0000" + inst.name;
        cards.set(key, card);
      }
      updateCard(card, inst, frame);
    }
    for (const [key, card] of cards) {
      if (!seen.has(key)) {
        card.root.remove();
        cards.delete(key);
      }
    }
    // Trouble first, then by layer and name; the DOM moves only when the
    // order changes.
    const next = [...cards.values()]
      .sort((a, b) => a.trouble - b.trouble || (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
      .map((c) => c.key);
    if (next.length !== order.length || next.some((k, i) => k !== order[i])) {
      const fragment = document.createDocumentFragment();
      for (const key of next) fragment.append(cards.get(key).root);
      $cards.append(fragment);
      order = next;
    }
    $empty.hidden = cards.size > 0;
    summarise(frame);
    frames += 1;
    document.body.dataset.frames = String(frames);
    document.body.dataset.seq = String(frame.seq);
    document.body.dataset.renderMs = (performance.now() - started).toFixed(2);
  }

  function summarise(frame) {
    let troubled = 0, open = 0;
    for (const card of cards.values()) if (card.trouble < 2) troubled++;
    for (const inst of frame.instances) {
      if (inst.kind === "circuit_breaker" && inst.snapshot && inst.snapshot.state !== "closed" && inst.snapshot.state !== "disabled") open++;
    }
    const text = `${STATUSES[frame.status] || frame.status}: ${cards.size} instances, ${troubled} in trouble, ` +
      `${open} ${open === 1 ? "circuit" : "circuits"} not closed` +
      (frame.lagged_events ? ` (${frame.lagged_events} events missed)` : "");
    setText($summary, text);
    document.body.dataset.status = frame.status;
  }

  $filter.addEventListener("input", () => {
    query = $filter.value.trim().toLowerCase();
    for (const card of cards.values()) {
      const hide = !matches(card);
      if (card.root.hidden !== hide) card.root.hidden = hide;
    }
  });

  function connection(state, text) {
    $connection.dataset.state = state;
    setText($connection, text);
  }

  // ------------------------------------------------------------- stream --
  const source = new EventSource("stream");
  source.onopen = () => connection("live", "live");
  source.onerror = () => connection("lost", "connection lost, retrying");
  source.onmessage = (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    connection("live", "live");
    applyFrame(frame);
  };
})();
