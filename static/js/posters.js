// Swap posters that fail to load (moved CDN files, offline) for the local placeholder.
// A static file instead of onerror="" attributes, so pages need no inline script.
(function () {
  "use strict";
  function useFallback(img) {
    var fallback = img.getAttribute("data-fallback");
    if (!fallback) return;
    img.removeAttribute("data-fallback"); // never loop if the placeholder itself fails
    img.classList.add("is-placeholder");
    img.src = fallback;
  }
  // error does not bubble; listening in the capture phase catches it for every <img>.
  document.addEventListener("error", function (event) {
    var el = event.target;
    if (el && el.tagName === "IMG") useFallback(el);
  }, true);
  // Images that failed before this script ran.
  function sweep() {
    var imgs = document.querySelectorAll("img[data-fallback]");
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth === 0 && imgs[i].getAttribute("src")) {
        useFallback(imgs[i]);
      }
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sweep);
  } else {
    sweep();
  }
})();
