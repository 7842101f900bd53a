// Progressive enhancement of the list controls (templates/accounts/_list_controls_form.html).
// Without this script they are plain forms that post and come back to the page. With it, a
// change saves at once through fetch() and the server's re-rendered controls replace the
// form, so the page never reloads. No framework, no CDN.
(function () {
  "use strict";
  function enhance(root) {
    var forms = root.querySelectorAll("form[data-list-controls]");
    for (var i = 0; i < forms.length; i++) forms[i].classList.add("js");
  }
  function save(form) {
    var status = form.querySelector(".lc-status");
    if (status) status.textContent = "Saving…";
    form.classList.add("busy");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status === 401 || response.status === 403 || response.redirected) {
        throw new Error("Please log in again.");
      }
      return response.text().then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var fresh = holder.querySelector("form[data-list-controls]");
        if (!fresh) throw new Error("Unexpected answer from the server.");
        form.replaceWith(fresh);
        enhance(fresh.parentNode);
      });
    }).catch(function (err) {
      form.classList.remove("busy");
      if (status) status.textContent = "Not saved: " + err.message;
    });
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-list-controls]");
    if (form && event.target.name !== "episodes_watched") save(form);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-list-controls]")) {
      event.preventDefault();
      save(form);
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
})();
