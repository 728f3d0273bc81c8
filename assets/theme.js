// Apply the remembered theme before Dash renders, so a dark page never flashes white.
(function () {
  try {
    var t = localStorage.getItem("shell-theme");
    if (t) document.documentElement.setAttribute("data-bs-theme", JSON.parse(t));
  } catch (e) { /* private mode: keep the default */ }
})();
