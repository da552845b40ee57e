// The dashboard's only script (the Content-Security-Policy allows no other, and no
// inline script): confirmations, "copy" buttons, and keeping a secret shown once out of
// the browser's history.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.getAttribute("data-copy"));
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(() => {
      button.textContent = "Copied";
    });
  }
});

// A page answering a form that created a secret says where it lives
// (data-replace-url): the address bar and history point there, so reloading shows the
// page without the secret instead of posting the form again.
document.addEventListener("DOMContentLoaded", () => {
  const target = document.body.getAttribute("data-replace-url");
  if (target && target.startsWith("/dashboard")) {
    window.history.replaceState(null, "", target);
  }
});
