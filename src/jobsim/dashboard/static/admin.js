/* jobsim admin dashboard: signs in with the admin token, polls the admin API while the tab is
 * visible, runs the operator actions. Every value from the server enters the page through
 * textContent or an attribute, never as HTML: posting ids and error texts are user-controlled. */
"use strict";

(function () {
  const API = "/api/admin";
  const TOKEN_KEY = "jobsim.adminToken";
  const POLL_MS = 2500;
  const TABS = ["embeddings", "queue", "workers"];
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PAUSED = "Paused while this tab is hidden";

  const state = {
    tab: "embeddings",
    timer: null,
    inFlight: false,
    generation: 0, // bumped on sign-out, so answers to older requests are dropped
    lastQueue: null,
  };

  const $ = (id) => document.getElementById(id);

  // --- the token (this browser tab only) --------------------------------------------------

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      return null;
    }
  }

  function setToken(token) {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* storage disabled: the token lives until the page is left */
    }
    state.memoryToken = token || null;
  }

  function currentToken() {
    return getToken() || state.memoryToken || null;
  }

  // --- HTTP -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      let message = (body && (body.message || body.error)) || "HTTP " + status;
      const details = body && Array.isArray(body.detail) ? body.detail : [];
      if (details.length) {
        message += " (" + details.map((d) => d.field + ": " + d.message).join("; ") + ")";
      }
      super(message);
      this.status = status;
      this.body = body;
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, body) {
    const token = currentToken();
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    let payload = null;
    try {
      payload = await response.json();
    } catch (e) {
      payload = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, payload, response.headers.get("Retry-After"));
    }
    return payload;
  }

  /** 401, 429 and 503 change what the whole page shows; true when handled here. */
  function handleAuthError(error) {
    if (!(error instanceof ApiError)) return false;
    if (error.status === 401) {
      signOut("The admin token was not accepted (401). Sign in again.");
      return true;
    }
    if (error.status === 503 && error.body && error.body.error === "admin_disabled") {
      showDisabled();
      return true;
    }
    if (error.status === 429) {
      const wait = error.retryAfter ? " Try again in " + error.retryAfter + " s." : "";
      const message = "Too many failed sign-ins from this address." + wait;
      // Signed in already: keep the token and keep polling until the lock-out ends.
      if ($("app").hidden) signOut(message);
      else setLive(message, true);
      return true;
    }
    return false;
  }

  // --- DOM helpers (text only) ------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function lookup(data, path) {
    return path.split(".").reduce((v, k) => (v == null ? undefined : v[k]), data);
  }

  /** Fill every [data-field] inside `root` from `data` ("a.b" paths), formatted per field. */
  function fill(root, data, formats) {
    for (const node of root.querySelectorAll("[data-field]")) {
      const key = node.dataset.field;
      const value = lookup(data, key);
      if (value === undefined) continue;
      const format = (formats && formats[key]) || plain;
      node.textContent = format(value);
      const stat = node.closest(".stat.bad");
      if (stat) stat.classList.toggle("nonzero", typeof value === "number" && value > 0);
    }
  }

  function replaceRows(tbody, rows, columns, emptyText) {
    const fragment = document.createDocumentFragment();
    if (!rows.length) {
      fragment.append(el("tr", { class: "empty" }, el("td", { colspan: columns, text: emptyText })));
    }
    for (const row of rows) fragment.append(row);
    tbody.replaceChildren(fragment);
  }

  const numberFormat = new Intl.NumberFormat();
  function plain(value) {
    if (value === null || value === undefined || value === "") return "–";
    if (typeof value === "number") return numberFormat.format(value);
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }

  function percent(value) {
    if (value === null || value === undefined) return "–";
    const p = value * 100;
    return (p > 0 && p < 1 ? p.toFixed(1) : Math.floor(p * 10) / 10).toString() + "%";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }

  function ago(iso) {
    if (!iso) return "–";
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return String(iso);
    return duration((Date.now() - then) / 1000) + " ago";
  }

  /** A table cell; `label` (a column name, never data) heads it when a phone stacks rows. */
  function cell(label, props, ...children) {
    const content = children.length > 1 ? [el("div", {}, ...children)] : children;
    return el("td", Object.assign({ "data-label": label }, props), ...content);
  }

  function timeCell(label, iso) {
    return cell(label, { title: iso ? new Date(iso).toLocaleString() : undefined }, ago(iso));
  }

  function shortTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // --- screens ----------------------------------------------------------------------------

  function showOnly(id) {
    for (const name of ["login", "disabled", "app"]) $(name).hidden = name !== id;
    $("logout").hidden = id !== "app";
    $("live").hidden = id !== "app";
  }

  function showLogin(message) {
    stopPolling();
    showOnly("login");
    $("login-message").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  function showDisabled() {
    stopPolling();
    showOnly("disabled");
  }

  function signOut(message) {
    state.generation += 1;
    setToken(null);
    showLogin(message);
  }

  async function signIn(token) {
    setToken(token);
    state.generation += 1;
    const generation = state.generation;
    try {
      // One request checks the token before the dashboard shows.
      await api("GET", "/embeddings");
      if (generation !== state.generation) return;
      showApp();
    } catch (error) {
      if (handleAuthError(error)) return;
      setToken(null);
      showLogin("Could not reach the admin API: " + error.message);
    }
  }

  function showApp() {
    showOnly("app");
    selectTab(tabFromHash() || state.tab, false);
  }

  // --- tabs -------------------------------------------------------------------------------

  function tabFromHash() {
    const name = location.hash.replace(/^#/, "");
    return TABS.includes(name) ? name : null;
  }

  function selectTab(name, focus) {
    if (name !== state.tab) showResult("");
    state.tab = name;
    for (const tab of TABS) {
      const button = $("tab-" + tab);
      const selected = tab === name;
      button.setAttribute("aria-selected", selected ? "true" : "false");
      button.tabIndex = selected ? 0 : -1;
      $("panel-" + tab).hidden = !selected;
      if (selected && focus) button.focus();
    }
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    refresh();
  }

  function onTabKey(event) {
    const index = TABS.indexOf(state.tab);
    let next = null;
    if (event.key === "ArrowRight") next = TABS[(index + 1) % TABS.length];
    else if (event.key === "ArrowLeft") next = TABS[(index + TABS.length - 1) % TABS.length];
    else if (event.key === "Home") next = TABS[0];
    else if (event.key === "End") next = TABS[TABS.length - 1];
    if (next) {
      event.preventDefault();
      selectTab(next, true);
    }
  }

  // --- polling ----------------------------------------------------------------------------

  function stopPolling() {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  function schedule() {
    stopPolling();
    if (!document.hidden && !$("app").hidden) state.timer = setTimeout(refresh, POLL_MS);
  }

  function setLive(text, problem) {
    const live = $("live");
    live.textContent = text;
    live.classList.toggle("problem", Boolean(problem));
  }

  /** Each tab's requests; each answers a function that draws what they returned. */
  const LOADERS = {
    embeddings: async () => {
      const data = await api("GET", "/embeddings");
      return () => renderEmbeddings(data);
    },
    queue: async () => {
      const [queue, failed, recent] = await Promise.all([
        api("GET", "/queue"),
        api("GET", "/tasks?state=failed&limit=50"),
        api("GET", "/tasks?limit=15"),
      ]);
      return () => renderQueue(queue, failed, recent);
    },
    workers: async () => {
      const [workers, level] = await Promise.all([api("GET", "/workers"), api("GET", "/log-level")]);
      return () => renderWorkers(workers, level);
    },
  };

  async function refresh() {
    if ($("app").hidden || !currentToken()) return;
    if (state.inFlight) {
      state.again = true;
      return;
    }
    stopPolling();
    state.inFlight = true;
    const generation = state.generation;
    try {
      const draw = await LOADERS[state.tab]();
      if (generation === state.generation) {
        draw();
        setLive(document.hidden ? PAUSED : "Live · updated " + new Date().toLocaleTimeString());
      }
    } catch (error) {
      if (generation === state.generation && !handleAuthError(error)) {
        setLive("Connection problem: " + error.message + " · retrying", true);
      }
    } finally {
      state.inFlight = false;
      if (state.again) {
        state.again = false;
        refresh();
      } else {
        schedule();
      }
    }
  }

  document.addEventListener("visibilitychange", () => {
    if ($("app").hidden) return;
    if (document.hidden) {
      stopPolling();
      setLive(PAUSED);
    } else {
      refresh();
    }
  });

  // --- rendering: embedding status --------------------------------------------------------

  function renderEmbeddings(data) {
    const panel = $("panel-embeddings");
    const flat = Object.assign({}, data, data.states || {});
    fill(panel, flat, {
      coverage: percent,
      recompute_after_days: (d) => plain(d) + " days",
    });
    $("coverage-bar").style.width = Math.max(0, Math.min(100, (data.coverage || 0) * 100)) + "%";

    replaceRows(
      $("models-body"),
      (data.models || []).map((m) =>
        el(
          "tr",
          {},
          el("td", { class: "mono", text: m.model }),
          el("td", { class: "num", text: plain(m.vectors) }),
          el("td", {}, m.current ? el("span", { class: "badge ok", text: "current" }) : "old")
        )
      ),
      3,
      "No vectors stored yet."
    );
    replaceRows(
      $("listing-types-body"),
      (data.listing_types || []).map((t) =>
        el(
          "tr",
          {},
          el("td", { text: t.listing_type }),
          el("td", { class: "num", text: plain(t.active) }),
          el("td", { class: "num", text: plain(t.closed) }),
          el("td", { class: "num", text: plain(t.draft) }),
          el("td", { class: "num", text: plain(t.deleted) }),
          el("td", { class: "num", text: plain(t.embedded) }),
          el("td", { class: "num", text: percent(t.coverage) })
        )
      ),
      7,
      "No listings."
    );
    replaceRows(
      $("languages-body"),
      (data.languages || []).map((l) =>
        el(
          "tr",
          {},
          el("td", { text: l.language || "unknown" }),
          el("td", { class: "num", text: plain(l.active) }),
          el("td", { class: "num", text: plain(l.embedded) }),
          el("td", { class: "num", text: percent(l.coverage) }),
          el("td", { text: l.glossed ? "to English" : "no" })
        )
      ),
      5,
      "No active postings."
    );
  }

  // --- rendering: queue health ------------------------------------------------------------

  const STATES = ["queued", "running", "succeeded", "failed"];

  function renderQueue(queue, failed, recent) {
    state.lastQueue = queue;
    const panel = $("panel-queue");
    fill(
      panel,
      Object.assign({}, queue, { totals: Object.assign({ queued: 0, running: 0, failed: 0 }, queue.totals) }),
      { oldest_queued_age_seconds: (s) => (s === null ? "none" : duration(s)) }
    );
    drawChart(queue.last_hour || []);

    const kinds = Object.entries(queue.counts || {});
    replaceRows(
      $("kinds-body"),
      kinds.map(([kind, counts]) =>
        el(
          "tr",
          {},
          el("td", { text: kind }),
          ...STATES.map((s) => el("td", { class: "num", text: plain((counts || {})[s] || 0) }))
        )
      ),
      5,
      "No tasks."
    );

    const items = failed.items || [];
    $("failed-summary").textContent =
      failed.total > items.length
        ? "Showing the newest " + items.length + " of " + plain(failed.total) + " failed tasks."
        : failed.total
          ? plain(failed.total) + (failed.total === 1 ? " failed task." : " failed tasks.")
          : "";
    replaceRows(
      $("failed-body"),
      items.map((task) =>
        el(
          "tr",
          { dataset: { taskId: String(task.id) } },
          cell("Task", { class: "num", text: task.id }),
          cell("Kind", { text: task.kind }),
          cell("Posting", { class: "mono", text: task.posting_id }),
          cell("Attempts", { class: "num", text: plain(task.attempts) + " / " + plain(task.max_attempts) }),
          cell("Error", { class: "error-text", text: task.last_error || "–" }),
          timeCell("Finished", task.finished_at || task.updated_at),
          cell(
            "",
            { class: "action" },
            el("button", {
              type: "button",
              class: "small",
              "aria-label": "Retry task " + task.id,
              text: "Retry",
              onclick: (event) => retryOne(task.id, event.currentTarget),
            })
          )
        )
      ),
      7,
      "No failed tasks."
    );

    replaceRows(
      $("recent-body"),
      (recent.items || []).map((task) =>
        el(
          "tr",
          { dataset: { taskId: String(task.id) } },
          cell("Task", { class: "num", text: task.id }),
          cell("Kind", { text: task.kind }),
          cell("Posting", { class: "mono", text: task.posting_id }),
          cell("State", {}, el("span", { class: "badge " + task.state, text: task.state })),
          cell("Attempts", { class: "num", text: plain(task.attempts) }),
          timeCell("Updated", task.updated_at)
        )
      ),
      6,
      "No tasks."
    );
  }

  function niceMax(value) {
    if (value <= 4) return 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * magnitude >= value) return step * magnitude;
    }
    return 10 * magnitude;
  }

  function drawChart(minutes) {
    const box = $("chart");
    const width = Math.max(280, Math.floor(box.clientWidth || 600));
    const height = width < 500 ? 150 : 190;
    const pad = { left: 36, right: 8, top: 10, bottom: 24 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const succeeded = minutes.reduce((n, m) => n + (m.succeeded || 0), 0);
    const failedTotal = minutes.reduce((n, m) => n + (m.failed || 0), 0);
    const peak = minutes.reduce((n, m) => Math.max(n, (m.succeeded || 0) + (m.failed || 0)), 0);
    const top = niceMax(peak);

    const root = svg("svg", {
      width,
      height,
      viewBox: "0 0 " + width + " " + height,
      role: "img",
      "aria-labelledby": "chart-title chart-desc",
    });
    const desc = svg("desc", { id: "chart-desc" });
    desc.textContent =
      "Tasks finished per minute over the last hour: " +
      succeeded + " succeeded, " + failedTotal + " failed; busiest minute " + peak + ".";
    root.append(desc);

    for (const fraction of [0, 0.5, 1]) {
      const y = pad.top + plotH - fraction * plotH;
      root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid-line" }));
      const label = svg("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", class: "axis" });
      label.textContent = plain(Math.round(top * fraction * 10) / 10);
      root.append(label);
    }

    const slots = Math.max(minutes.length, 60);
    const slot = plotW / slots;
    const barW = Math.max(1, slot - (slot > 4 ? 2 : 0.5));
    minutes.forEach((m, i) => {
      const ok = m.succeeded || 0;
      const bad = m.failed || 0;
      if (!ok && !bad) return;
      const x = pad.left + i * slot + (slot - barW) / 2;
      const hOk = (ok / top) * plotH;
      const hBad = (bad / top) * plotH;
      const group = svg("g", {});
      const tip = svg("title", {});
      tip.textContent = shortTime(m.minute) + ": " + ok + " succeeded, " + bad + " failed";
      group.append(tip);
      if (ok) group.append(svg("rect", { x, width: barW, y: pad.top + plotH - hOk, height: hOk, class: "bar-ok" }));
      if (bad) {
        group.append(
          svg("rect", { x, width: barW, y: pad.top + plotH - hOk - hBad, height: hBad, class: "bar-bad" })
        );
      }
      root.append(group);
    });

    const labels = [
      [0, minutes.length ? shortTime(minutes[0].minute) : "−60 min", "start"],
      [0.5, minutes.length > 30 ? shortTime(minutes[30].minute) : "−30 min", "middle"],
      [1, "now", "end"],
    ];
    for (const [fraction, text, anchor] of labels) {
      const label = svg("text", {
        x: pad.left + fraction * plotW,
        y: height - 6,
        "text-anchor": anchor,
        class: "axis",
      });
      label.textContent = text;
      root.append(label);
    }
    box.replaceChildren(root);
  }

  window.addEventListener("resize", () => {
    if (state.lastQueue && !$("panel-queue").hidden) drawChart(state.lastQueue.last_hour || []);
  });

  // --- rendering: workers -----------------------------------------------------------------

  function renderWorkers(data, level) {
    fill($("panel-workers"), { workers: data, log_level: level.level });
    const select = $("log-level");
    if (document.activeElement !== select && !select.dataset.touched) select.value = level.level;
    replaceRows(
      $("workers-body"),
      (data.items || []).map((w) =>
        el(
          "tr",
          {},
          cell(
            "Worker",
            {},
            el("span", { class: "mono", text: w.id }),
            el("br"),
            el("span", { class: "muted small", text: (w.hostname || "?") + " · pid " + String(w.pid) })
          ),
          cell(
            "State",
            {},
            el("span", {
              class: "badge " + (w.alive ? "ok" : "failed"),
              text: w.alive ? "alive" : "dead",
            }),
            " ",
            w.state || ""
          ),
          cell("Heartbeat", {
            text: w.heartbeat_age_seconds == null ? "–" : duration(w.heartbeat_age_seconds) + " ago",
          }),
          cell("Processed", { class: "num", text: plain(w.processed) }),
          cell("Failed", { class: "num", text: plain(w.failed) }),
          cell("Memory", { class: "num", text: w.memory_mb == null ? "–" : Math.round(w.memory_mb) + " MB" }),
          cell("Current batch", { text: describeBatch(w.current_batch) }),
          cell("Embedder", { class: "mono", text: w.embedder || "–" }),
          timeCell("Started", w.started_at)
        )
      ),
      9,
      "No workers have registered. Start one with `jobsim worker`."
    );
  }

  function describeBatch(size) {
    if (!size) return "idle";
    return countText(size, "task", "tasks");
  }

  // --- actions ----------------------------------------------------------------------------

  function showResult(text, problem) {
    const node = $("action-result");
    node.textContent = text;
    node.classList.toggle("error", Boolean(problem));
    node.classList.toggle("success", !problem);
  }

  async function act(button, confirmText, run, describe) {
    if (confirmText && !window.confirm(confirmText)) return;
    if (button) button.disabled = true;
    showResult("Working…");
    try {
      const result = await run();
      showResult(describe(result));
      refresh();
    } catch (error) {
      if (!handleAuthError(error)) showResult("Failed: " + error.message, true);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function countText(n, one, many) {
    return plain(n) + " " + (n === 1 ? one : many);
  }

  const ACTIONS = {
    reembed: (button) =>
      act(
        button,
        "Re-embed every active posting? The old vectors keep serving until each new one is stored.",
        () => api("POST", "/reembed"),
        (r) => "Re-embed: queued " + countText(r.count, "posting", "postings") + "."
      ),
    recompute: (button) =>
      act(
        button,
        "Recompute the similar list of every listed posting?",
        () => api("POST", "/recompute"),
        (r) => "Recompute: queued " + countText(r.count, "posting", "postings") + "."
      ),
    "retry-all": (button) =>
      act(
        button,
        null,
        () => api("POST", "/tasks/retry", {}),
        (r) => "Retry: " + countText(r.count, "failed task is", "failed tasks are") + " back in the queue."
      ),
  };

  function retryOne(id, button) {
    return act(
      button,
      null,
      () => api("POST", "/tasks/" + encodeURIComponent(id) + "/retry"),
      (r) =>
        r.count
          ? "Task " + id + " is back in the queue."
          : "Task " + id + " was not a failed task; nothing to retry."
    );
  }

  function parseIds(text) {
    return Array.from(new Set(text.split(/[\s,;]+/).filter(Boolean)));
  }

  // --- wiring -----------------------------------------------------------------------------

  function init() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      if (!token) {
        $("login-message").textContent = "Enter the admin token.";
        return;
      }
      $("login-message").textContent = "";
      signIn(token);
    });
    $("logout").addEventListener("click", () => signOut("Signed out."));
    $("disabled-retry").addEventListener("click", () => {
      const token = currentToken();
      if (token) signIn(token);
      else showLogin("");
    });

    for (const tab of TABS) {
      const button = $("tab-" + tab);
      button.addEventListener("click", () => selectTab(tab, false));
      button.addEventListener("keydown", onTabKey);
    }
    window.addEventListener("hashchange", () => {
      const tab = tabFromHash();
      if (tab && tab !== state.tab && !$("app").hidden) selectTab(tab, false);
    });

    for (const button of document.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => ACTIONS[button.dataset.action](button));
    }

    $("enqueue-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const ids = parseIds($("enqueue-ids").value);
      if (!ids.length) {
        showResult("Enter one or more posting ids.", true);
        return;
      }
      if (ids.length > 1000) {
        showResult("At most 1000 ids at a time.", true);
        return;
      }
      act(
        event.submitter,
        null,
        () => api("POST", "/enqueue", { ids }),
        (r) => {
          const unknown = r.unknown || [];
          return (
            "Enqueue: queued " + countText(r.count, "posting", "postings") + "." +
            (unknown.length ? " Unknown ids: " + unknown.join(", ") + "." : "")
          );
        }
      );
    });

    $("clear-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const days = Number($("clear-days").value);
      if ($("clear-days").value === "" || !Number.isFinite(days) || days < 0) {
        showResult("Enter a number of days (0 or more).", true);
        return;
      }
      act(
        event.submitter,
        "Delete every succeeded and failed task finished more than " + days + " days ago?",
        () => api("POST", "/tasks/clear", { older_than_days: days }),
        (r) => "Clear: deleted " + countText(r.count, "finished task", "finished tasks") + "."
      );
    });

    $("log-level").addEventListener("change", (event) => {
      event.currentTarget.dataset.touched = "1";
    });
    $("log-level-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const level = $("log-level").value;
      act(
        event.submitter,
        null,
        () => api("PUT", "/log-level", { level }),
        (r) => {
          delete $("log-level").dataset.touched;
          return "Log level is now " + r.level + ".";
        }
      );
    });

    if (currentToken()) signIn(currentToken());
    else probe();
  }

  /** Without a token: is the admin API enabled at all? (A request without a token is no
   * failed login; the server answers 503 when disabled, 401 when it wants the token.) */
  async function probe() {
    showLogin("");
    try {
      await api("GET", "/log-level");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 503 || error.status === 429)) {
        handleAuthError(error);
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
