/* jobsim similar-jobs widget. A job board's page includes it once:
 *
 *   <div data-jobsim-similar="JOB_ID"></div>
 *   <script src="https://JOBSIM_HOST/widget.js" async></script>
 *
 * It reads GET /api/jobs/JOB_ID/similar from the server it was loaded from (its own src) and
 * renders the list: title (a link built from the link template), company, city, match %.
 * Options, as attributes of the div (README, "Widget"): data-link-template, data-limit,
 * data-title, data-heading-level, data-fallback-message. The div's data-jobsim-state says
 * loading | ready | fallback (matching in progress) | empty | error. After adding a div
 * later, call window.jobsimWidget.render().
 *
 * No dependencies, no cookies (credentials: "omit"), data only ever set as text.
 */
(function () {
  "use strict";

  // Replaced by the server with the configured settings (JOBSIM_WIDGET_LINK_TEMPLATE).
  var SERVER = /*jobsim:server-config*/ {};

  if (window.jobsimWidget) {
    // Included twice: the first copy renders.
    window.jobsimWidget.render();
    return;
  }
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var SCRIPT_URL = script.src;
  var DEFAULT_LINK_TEMPLATE = "/jobs/{id}";
  var DEFAULT_TITLE = "Similar jobs";
  var DEFAULT_FALLBACK_MESSAGE = "Matching in progress; showing related jobs meanwhile.";
  var DEFAULT_LIMIT = 5;
  var MAX_LIMIT = 20;
  var TIMEOUT_MS = 10000;
  var STYLE_ID = "jobsim-widget-style";
  // Zero specificity (:where), so any rule of the board's own wins.
  var STYLE = [
    ":where(.jobsim-similar){margin:1.5em 0;font:inherit;color:inherit}",
    ":where(.jobsim-heading){margin:0 0 .5em;font-size:1.125em;line-height:1.3}",
    ":where(.jobsim-message){margin:0 0 .5em;font-size:.875em;opacity:.75}",
    ":where(.jobsim-list){list-style:none;margin:0;padding:0}",
    ":where(.jobsim-item){display:flex;flex-wrap:wrap;align-items:baseline;gap:.2em .75em;" +
      "padding:.6em 0;border-top:1px solid rgba(127,127,127,.25)}",
    ":where(.jobsim-item:first-child){border-top:0}",
    ":where(.jobsim-link,.jobsim-name){flex:1 1 10em;font-weight:600}",
    ":where(.jobsim-match){flex:none;padding:.1em .55em;border-radius:1em;font-size:.8em;" +
      "font-weight:600;white-space:nowrap;background:rgba(37,99,235,.12);color:#1e4fc2}",
    ":where(.jobsim-meta){flex:1 1 100%;order:3;font-size:.875em;opacity:.8}",
    ":where(.jobsim-meta>*+*)::before{content:\"\\00b7\";margin:0 .4em}",
  ].join("\n");

  var pending = new WeakMap(); // element -> the posting id rendered or being fetched
  var headings = 0;

  function renderAll() {
    var elements = document.querySelectorAll("[data-jobsim-similar]");
    for (var i = 0; i < elements.length; i++) {
      try {
        render(elements[i]);
      } catch (error) {
        warn(error);
      }
    }
  }

  function render(element) {
    var postingId = (element.getAttribute("data-jobsim-similar") || "").trim();
    if (!postingId || pending.get(element) === postingId) {
      return;
    }
    pending.set(element, postingId);
    addStyle();
    setState(element, "loading");
    var url = new URL(
      "api/jobs/" + encodeURIComponent(postingId) + "/similar?limit=" + limitOf(element),
      SCRIPT_URL
    );
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : 0;
    var current = function () { return pending.get(element) === postingId; };
    fetch(url.href, {
      method: "GET",
      mode: "cors",
      credentials: "omit",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        if (current()) {
          show(element, postingId, body);
        }
      })
      .catch(function (error) {
        if (current()) {
          clear(element);
          setState(element, "error");
          warn("could not load the similar jobs of " + postingId + " (" + error + ")");
        }
      })
      .then(function () {
        clearTimeout(timer);
      });
  }

  function show(element, postingId, body) {
    var items = (body && Array.isArray(body.data) ? body.data : []).filter(isItem);
    clear(element);
    if (!items.length) {
      setState(element, "empty");
      return;
    }
    var fallback = body.method !== "semantic";
    var template =
      element.getAttribute("data-link-template") || SERVER.linkTemplate || DEFAULT_LINK_TEMPLATE;

    var box = make("div", "jobsim-similar");
    var list = make("ul", "jobsim-list");
    var title = element.getAttribute("data-title");
    if (title === "") {
      list.setAttribute("aria-label", DEFAULT_TITLE);
    } else {
      var heading = make("h" + headingLevelOf(element), "jobsim-heading", title || DEFAULT_TITLE);
      heading.id = "jobsim-similar-heading-" + ++headings;
      list.setAttribute("aria-labelledby", heading.id);
      box.appendChild(heading);
    }
    if (fallback) {
      var message =
        element.getAttribute("data-fallback-message") ||
        (typeof body.message === "string" && body.message) ||
        DEFAULT_FALLBACK_MESSAGE;
      box.appendChild(make("p", "jobsim-message", message));
    }
    for (var i = 0; i < items.length; i++) {
      list.appendChild(itemOf(items[i], template, fallback));
    }
    box.appendChild(list);
    element.appendChild(box);
    setState(element, fallback ? "fallback" : "ready");
  }

  function itemOf(item, template, fallback) {
    var row = make("li", "jobsim-item");
    var href = linkFor(template, item.id);
    var name = make(href ? "a" : "span", href ? "jobsim-link" : "jobsim-name", item.title);
    if (href) {
      name.setAttribute("href", href);
    }
    row.appendChild(name);
    // Fallback items (the whole list while matching runs, or `source: "fallback"` items that
    // top up a short list) carry no score, so no percentage.
    var percentage = item.percentage;
    if (!fallback && item.source !== "fallback" && typeof percentage === "number" &&
        isFinite(percentage)) {
      row.appendChild(make("span", "jobsim-match", Math.round(percentage) + "% match"));
    }
    var meta = make("span", "jobsim-meta");
    if (typeof item.company === "string" && item.company) {
      meta.appendChild(make("span", "jobsim-company", item.company));
    }
    var city = placeOf(item.location);
    if (city) {
      meta.appendChild(make("span", "jobsim-city", city));
    }
    if (meta.firstChild) {
      row.appendChild(meta);
    }
    return row;
  }

  function placeOf(location) {
    if (!location || typeof location !== "object") {
      return "";
    }
    if (typeof location.city === "string" && location.city) {
      return location.city;
    }
    return location.remote === true ? "Remote" : "";
  }

  // The board's link for a posting; only http(s) links (never javascript: and the like).
  function linkFor(template, postingId) {
    var href = String(template).split("{id}").join(encodeURIComponent(postingId));
    try {
      var protocol = new URL(href, document.baseURI).protocol;
      return protocol === "http:" || protocol === "https:" ? href : null;
    } catch (error) {
      return null;
    }
  }

  function isItem(item) {
    return !!item && typeof item.id === "string" && typeof item.title === "string";
  }

  function limitOf(element) {
    var limit = parseInt(element.getAttribute("data-limit") || "", 10);
    return limit >= 1 ? Math.min(limit, MAX_LIMIT) : DEFAULT_LIMIT;
  }

  function headingLevelOf(element) {
    var level = parseInt(element.getAttribute("data-heading-level") || "", 10);
    return level >= 1 && level <= 6 ? level : 2;
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function clear(element) {
    while (element.firstChild) {
      element.removeChild(element.firstChild);
    }
  }

  function setState(element, state) {
    element.setAttribute("data-jobsim-state", state);
    if (state === "loading") {
      element.setAttribute("aria-busy", "true");
    } else {
      element.removeAttribute("aria-busy");
    }
  }

  function addStyle() {
    if (document.getElementById(STYLE_ID) || !document.head) {
      return;
    }
    var style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = STYLE;
    // First in <head>, so the board's own style sheets come later and win.
    document.head.insertBefore(style, document.head.firstChild);
  }

  function warn(message) {
    if (window.console && console.warn) {
      console.warn("jobsim widget: " + message);
    }
  }

  window.jobsimWidget = { render: renderAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
