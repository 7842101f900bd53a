// Progressive enhancement of the recommendation cards (templates/recommender/_rec_card.html).
// Without this script each action is a form post that comes back to the page. With it, the
// action saves through fetch() and the server's next card takes the acted-on card's place,
// so the page never reloads. Picking a score rates at once. No framework, no CDN.
(function () {
  "use strict";
  function shownIds() {
    var cards = document.querySelectorAll("[data-mal-id]");
    var ids = [];
    for (var i = 0; i < cards.length; i++) ids.push(cards[i].getAttribute("data-mal-id"));
    return ids.join(",");
  }
  function say(text) {
    var box = document.querySelector("[data-rec-message]");
    if (box) box.textContent = text;
  }
  // One action at a time: each reply picks the next card not on the page, so two replies in
  // flight at once could bring the same card twice.
  var queue = Promise.resolve();
  function act(form) {
    queue = queue.then(function () { return send(form); });
  }
  function send(form) {
    var card = form.closest(".rec-card");
    var shown = form.querySelector("input[name=shown]");
    if (shown) shown.value = shownIds();
    if (card) card.classList.add("busy");
    // getAttribute: the hidden input named "action" shadows the form's .action property.
    return fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status === 401 || response.status === 403 || response.redirected) {
        throw new Error("Please log in again.");
      }
      return response.text().then(function (body) {
        if (!response.ok) {
          var plain = (response.headers.get("Content-Type") || "").indexOf("text/plain") === 0;
          throw new Error(plain && body ? body : "Not saved (error " + response.status + ").");
        }
        var holder = document.createElement("div");
        holder.innerHTML = body.trim();
        var reply = holder.querySelector(".rec-reply");
        if (!reply) throw new Error("Unexpected answer from the server.");
        say(reply.getAttribute("data-message") || "Saved.");
        var fresh = reply.querySelector(".rec-card");
        if (!card) return;
        var id = fresh && fresh.getAttribute("data-mal-id");
        if (fresh && !document.querySelector('[data-mal-id="' + id + '"]')) {
          fresh.classList.add("arrived");
          card.replaceWith(fresh);
        } else {
          card.remove();
        }
      });
    }).catch(function (err) {
      if (card) card.classList.remove("busy");
      say(err.message);
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-rec-action]")) {
      event.preventDefault();
      act(form);
    }
  });
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.rec-rate");
    if (form && event.target.name === "score" && event.target.value) act(form);
  });
  document.documentElement.classList.add("js-recs");
})();

// While a background refresh is queued or running, ask the API every few seconds how it
// went; once it is done, offer the new list rather than reloading under the reader.
(function () {
  "use strict";
  var line = document.querySelector("[data-refresh-pending]");
  if (!line) return;
  var url = line.getAttribute("data-refresh-pending") + "?limit=1";
  var waited = 0;
  function ready(status) {
    line.textContent = "";
    var text = status === "failed"
      ? "The update failed; your next change will try again. "
      : "Your recommendations are up to date. ";
    line.appendChild(document.createTextNode(text));
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = status === "failed" ? "Reload" : "Show the new list";
    line.appendChild(link);
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        var status = body.refresh && body.refresh.status;
        if (status === "done" || status === "failed") ready(status);
        else later();
      })
      .catch(later);
  }
  function later() {
    waited += 1;
    if (waited < 200) window.setTimeout(tick, waited < 20 ? 3000 : 15000);
  }
  window.setTimeout(tick, 3000);
})();
