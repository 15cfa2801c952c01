/* Margin: keyboard control, drafts that survive a reload, time per judgment, and a visible
   "not saved" state with automatic retry. No inline script or style anywhere (CSP). */
(function () {
  "use strict";

  var RETRY_MS = 2000;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function visible(el) {
    return !!el && !el.closest("[hidden]") && !el.disabled;
  }

  function byKey(key) {
    var all = document.querySelectorAll("[data-key]");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute("data-key") === key && visible(all[i])) return all[i];
    }
    return null;
  }

  function toggle(id, force) {
    var panel = document.getElementById(id);
    if (!panel) return;
    var show = force === undefined ? panel.hidden : force;
    ["guidelines", "help"].forEach(function (other) {
      var p = document.getElementById(other);
      if (p) p.hidden = true;
    });
    panel.hidden = !show;
  }

  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return ["radio", "checkbox", "submit", "button"].indexOf(el.type) < 0;
    return el.isContentEditable;
  }

  function submitForm(form) {
    if (!form) return;
    var button = form.querySelector("button[type=submit]");
    if (button && button.disabled) return;
    form.requestSubmit();
  }

  function markChosen(form) {
    var side = form.querySelector("input[name=side]:checked");
    form.querySelectorAll(".response").forEach(function (card) {
      card.classList.toggle("chosen", !!side && card.getAttribute("data-side") === side.value);
    });
  }

  /* ---- keys ---- */
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Escape") {
      if (isTyping(target)) target.blur();
      toggle("guidelines", false);
      toggle("help", false);
      return;
    }
    if (isTyping(target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submitForm(target.form);
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    if (key === "ArrowLeft") key = "1";
    if (key === "ArrowRight") key = "2";
    if (key === "Enter") {
      var judge = document.getElementById("judge");
      if (judge && !(target && target.tagName === "BUTTON")) {
        event.preventDefault();
        submitForm(judge);
      }
      return;
    }
    var el = byKey(key);
    if (!el) return;
    event.preventDefault();
    if (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type === "text")) {
      el.focus();
    } else {
      el.click();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle]");
    if (button) toggle(button.getAttribute("data-toggle"));
  });

  /* ---- drafts: an unsubmitted choice survives a reload ---- */
  var draftTimer = null;
  function saveDraft(form) {
    var url = form.getAttribute("data-draft-url");
    if (!url) return;
    clearTimeout(draftTimer);
    draftTimer = setTimeout(function () {
      fetch(url, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      }).catch(function () { /* the submit itself still carries everything */ });
    }, 250);
  }
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.id === "judge") {
      markChosen(form);
      saveDraft(form);
    }
  });
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.id === "judge" && event.target.tagName === "TEXTAREA") saveDraft(form);
  });

  /* ---- seconds per judgment, measured from when the pair appeared ---- */
  function stamp() {
    var form = document.getElementById("judge");
    if (form && !form.hasAttribute("data-shown")) form.setAttribute("data-shown", String(Date.now()));
  }
  document.addEventListener("DOMContentLoaded", stamp);
  document.addEventListener("htmx:afterSettle", stamp);
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (form.id !== "judge") return;
      clearTimeout(draftTimer);
      var shown = Number(form.getAttribute("data-shown") || 0);
      if (shown) form.querySelector("input[name=seconds]").value = ((Date.now() - shown) / 1000).toFixed(1);
      if (swapToPreloaded(form)) {
        event.preventDefault();
        event.stopImmediatePropagation(); // htmx does not send it: it goes in the background
      }
    },
    true
  );

  /* ---- the next pair is already in the page: show it at once, store in the background ---- */
  var pending = [];
  var sending = false;

  function sync(text, warn) {
    var el = document.getElementById("sync");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("warn", !!warn);
  }

  function checked(form, name) {
    return form.querySelector("input[name=" + name + "]:checked");
  }

  // Only a judgment the server will accept as it is skips the round trip; anything it would
  // ask about (missing fields, a chosen-unsafe/other-safe pair) goes through htmx as usual.
  function complete(form) {
    var side = checked(form, "side");
    if (!side || !checked(form, "grade")) return false;
    var left = checked(form, "left_safe");
    var right = checked(form, "right_safe");
    if (form.hasAttribute("data-safety-required") && (!left || !right)) return false;
    if (left && right && !form.querySelector("input[name=keep_excluded]")) {
      var chosen = side.value === "left" ? left : right;
      var other = side.value === "left" ? right : left;
      if (chosen.value === "unsafe" && other.value === "safe") return false;
    }
    return true;
  }

  function swapToPreloaded(form) {
    var stage = document.getElementById("stage");
    var template = stage && stage.querySelector("template#preload");
    var next = template && template.content.querySelector("section#stage");
    if (!next || !complete(form) || typeof htmx === "undefined") return false;
    pending.push({ url: form.getAttribute("action"), data: new FormData(form) });
    var fresh = document.importNode(next, true);
    stage.replaceWith(fresh);
    htmx.process(fresh);
    stamp();
    flush();
    return true;
  }

  function flush() {
    if (sending || !pending.length) return;
    sending = true;
    var item = pending[0];
    sync(pending.length > 1 ? "Saving " + pending.length + " judgments…" : "Saving…");
    fetch(item.url, {
      method: "POST",
      body: item.data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": item.data.get("csrfmiddlewaretoken") || csrfToken(), "HX-Request": "true", "X-Margin-Preloaded": "1" },
    })
      .then(function (response) {
        if (!response.ok) throw response.status;
        return response.text();
      })
      .then(function (html) {
        pending.shift();
        sending = false;
        applyAnswer(html);
        flush();
      })
      .catch(function (status) {
        sending = false;
        if (typeof status === "number" && status < 500) {
          pending.shift();
          sync("A judgment was refused (" + status + "). Reload the page.", true);
          flush();
          return;
        }
        sync("Not saved yet: no connection. Retrying…", true);
        setTimeout(flush, RETRY_MS);
      });
  }

  function applyAnswer(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var stage = document.getElementById("stage");
    var form = document.getElementById("judge");
    var shownId = form ? form.getAttribute("data-assignment") : null;
    var full = doc.querySelector("section#stage");
    var warn = full && full.querySelector(".notice.warn");
    sync(warn ? warn.textContent : "Saved.", !!warn);
    if (!stage) return;
    if (full) {
      var fullForm = full.querySelector("#judge");
      if (!fullForm || fullForm.getAttribute("data-assignment") !== shownId) {
        var replacement = document.importNode(full, true);
        stage.replaceWith(replacement);
        htmx.process(replacement);
        stamp();
        return;
      }
    }
    var template = (full || doc).querySelector("template#preload");
    if (!template || template.getAttribute("data-for") !== shownId) return;
    var old = stage.querySelector("template#preload");
    var copy = document.importNode(template, true);
    if (old) old.replaceWith(copy);
    else stage.appendChild(copy);
  }

  /* ---- never lose a submit silently: say so, and retry (submits are idempotent) ---- */
  function retry(form) {
    if (!form.hasAttribute("data-retry")) return; // only idempotent forms are sent again
    setTimeout(function () {
      if (!form.isConnected) return;
      var button = form.querySelector("button[type=submit]");
      if (button && button.disabled) return retry(form); // the failed request is still winding down
      form.requestSubmit();
    }, RETRY_MS);
  }
  function saveState(form, text) {
    var el = form && form.querySelector(".save-state");
    if (el) el.textContent = text;
  }
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt && event.detail.elt.closest("form");
    if (!form || !form.isConnected) return;
    saveState(form, form.hasAttribute("data-retry") ? "Not saved: no connection. Retrying…" : "Not sent: no connection. Try again.");
    retry(form);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var form = event.detail.elt && event.detail.elt.closest("form");
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (!form) return;
    if (status >= 500 || status === 0) {
      saveState(form, form.hasAttribute("data-retry") ? "Not saved: the server did not answer. Retrying…" : "Not sent: the server did not answer. Try again.");
      retry(form);
    } else {
      saveState(form, "Not saved (" + status + "). Reload the page to continue.");
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest("form");
    if (form && form.id === "judge") saveState(form, "Saving…");
  });
})();
