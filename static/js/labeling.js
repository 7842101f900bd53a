// Labeling page: answer with the keyboard or the big buttons, next card without a reload.
// Left = wouldn't, right = would, space/down = skip, z = undo. Answers go to the JSON API
// (/api/me/labels/); without JavaScript the same buttons post the page's form instead.
(function () {
  "use strict";
  var root = document.getElementById("labeler");
  if (!root) return;
  var queue = JSON.parse(document.getElementById("queue-data").textContent);
  var reasonLabels = JSON.parse(document.getElementById("reason-labels").textContent);
  var history = []; // [{labelId, item}] answered this visit, newest last: what z undoes
  var seen = {};     // mal_id -> true for every title answered or queued this visit
  var busy = false;
  var refilling = false;
  var polling = null;
  var modelVersion = root.dataset.modelVersion || "";
  var PLACEHOLDER = root.dataset.placeholder;
  queue.forEach(function (item) { seen[item.mal_id] = true; });

  function $(id) { return document.getElementById(id); }

  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": root.dataset.csrf },
    };
    if (body) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var msg = data.detail || Object.values(data).join(" ") || resp.statusText;
          throw new Error(msg);
        }
        return data;
      });
    });
  }

  function toast(text) {
    var el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 3500);
  }

  function li(text, cls) {
    var el = document.createElement("li");
    if (cls) el.className = cls;
    el.textContent = text;
    return el;
  }

  // Every catalog text goes through textContent: synopses and titles are never parsed as HTML.
  function render() {
    var item = queue[0];
    $("card").hidden = !item;
    $("answers").hidden = !item;
    $("empty").hidden = !!item;
    if (!item) return;
    var poster = $("card-poster");
    poster.textContent = "";
    var img = document.createElement("img");
    img.className = "poster-img";
    img.alt = "Poster of " + item.title;
    img.referrerPolicy = "no-referrer";
    if (item.picture) {
      img.src = item.picture;
      img.setAttribute("data-fallback", PLACEHOLDER);
    } else {
      img.src = PLACEHOLDER;
      img.classList.add("is-placeholder");
    }
    poster.appendChild(img);
    $("card-reason").textContent = reasonLabels[item.reason] || "";
    var title = $("card-title");
    title.textContent = item.title;
    title.href = item.url;
    var alt = $("card-alt");
    alt.textContent = item.title_english;
    alt.hidden = !item.title_english || item.title_english === item.title;
    var facts = $("card-facts");
    facts.textContent = "";
    facts.appendChild(li("★ " + (item.mean !== null ? item.mean.toFixed(2) : "no score yet"), "fact-score"));
    if (item.media_type) facts.appendChild(li(item.media_type));
    if (item.episodes) facts.appendChild(li(item.episodes + (item.episodes === 1 ? " episode" : " episodes")));
    if (item.year) facts.appendChild(li((item.season ? item.season + " " : "") + item.year));
    var genres = $("card-genres");
    genres.textContent = "";
    item.genres.forEach(function (g) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = g;
      var el = document.createElement("li");
      el.appendChild(chip);
      genres.appendChild(el);
    });
    var syn = $("card-synopsis");
    syn.textContent = item.synopsis || "No synopsis yet.";
    syn.classList.toggle("muted", !item.synopsis);
    $("answer-mal-id").value = item.mal_id;
    $("answer-reason").value = item.reason;
  }

  function showProgress(p) {
    $("ps-given").textContent = p.labels_given;
    $("ps-likes").textContent = p.likes;
    $("ps-dislikes").textContent = p.dislikes;
    $("ps-ap").textContent = p.model_average_precision === null ? "–" : p.model_average_precision.toFixed(3);
    $("ps-next").textContent = p.labels_until_retrain;
    var fill = $("ps-bar-fill");
    var total = parseInt(root.dataset.retrainEvery || "10", 10);
    fill.style.width = Math.round(100 * (total - Math.min(total, p.labels_until_retrain)) / total) + "%";
    $("ps-status").hidden = !p.training_status;
    if (p.model_version && p.model_version !== modelVersion) {
      // A retrained model has new doubts: keep the card on screen, ask about those next.
      modelVersion = p.model_version;
      queue.slice(1).forEach(function (item) { delete seen[item.mal_id]; });
      queue = queue.slice(0, 1);
      refill();
    }
    if (p.training_status && !polling) polling = setInterval(poll, 3000);
    if (!p.training_status && polling) { clearInterval(polling); polling = null; }
  }

  function poll() {
    api("GET", root.dataset.modelsUrl).then(function (data) { showProgress(data.progress); })
      .catch(function () { /* a missed poll is retried by the next tick */ });
  }

  function refill() {
    if (refilling || queue.length > 3) return;
    refilling = true;
    api("GET", root.dataset.queueUrl + "?limit=10").then(function (data) {
      var wasEmpty = queue.length === 0;
      data.results.forEach(function (item) {
        if (!seen[item.mal_id]) { seen[item.mal_id] = true; queue.push(item); }
      });
      if (wasEmpty) render();
    }).catch(function (err) { toast("Could not load more titles: " + err.message); })
      .then(function () { refilling = false; });
  }

  function answer(kind) {
    var item = queue[0];
    if (!item || busy) return;
    busy = true;
    markButton(kind);
    api("POST", root.dataset.labelsUrl, { mal_id: item.mal_id, answer: kind, reason: item.reason })
      .then(function (data) {
        history.push({ labelId: data.label.id, item: item });
        queue.shift();
        render();
        showProgress(data.progress);
        refill();
      })
      .catch(function (err) { toast("Not saved: " + err.message); })
      .then(function () { busy = false; });
  }

  function undo() {
    if (busy) return;
    var last = history.pop();
    if (!last) { toast("Nothing to undo on this page."); return; }
    busy = true;
    api("DELETE", root.dataset.labelsUrl + last.labelId + "/")
      .then(function (progress) {
        queue.unshift(last.item);
        render();
        showProgress(progress);
        toast("Took back your answer about " + last.item.title + ".");
      })
      .catch(function (err) { history.push(last); toast("Undo failed: " + err.message); })
      .then(function () { busy = false; });
  }

  function markButton(kind) {
    var btn = root.querySelector('button[data-answer="' + kind + '"]');
    if (!btn) return;
    btn.classList.add("pressed");
    setTimeout(function () { btn.classList.remove("pressed"); }, 180);
  }

  $("answers").addEventListener("submit", function (event) {
    event.preventDefault();
    var btn = event.submitter;
    if (btn && btn.dataset.answer) answer(btn.dataset.answer);
  });
  $("undo-form").addEventListener("submit", function (event) {
    event.preventDefault();
    undo();
  });

  var KEYS = { ArrowLeft: "dislike", ArrowRight: "like", ArrowDown: "skip", " ": "skip" };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    if (KEYS[event.key]) {
      event.preventDefault(); // space and arrows would otherwise scroll the page
      answer(KEYS[event.key]);
    } else if (event.key === "z" || event.key === "Z") {
      event.preventDefault();
      undo();
    }
  });

  showProgress({
    labels_given: parseInt($("ps-given").textContent, 10),
    likes: parseInt($("ps-likes").textContent, 10),
    dislikes: parseInt($("ps-dislikes").textContent, 10),
    model_average_precision: $("ps-ap").textContent === "–" ? null : parseFloat($("ps-ap").textContent),
    labels_until_retrain: parseInt($("ps-next").textContent, 10),
    training_status: $("ps-status").hidden ? "" : "running",
    model_version: modelVersion,
  });
  refill();
})();
