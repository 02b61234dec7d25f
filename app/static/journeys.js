// Small helpers for staff pages: copy a link, print a sheet, show the customer fields only
// when filing for a customer. Without JavaScript everything still works (the buttons stay hidden).
(function () {
  "use strict";
  document.querySelectorAll(".copy-button").forEach(function (button) {
    var input = document.getElementById(button.dataset.copy);
    if (!input || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = button.dataset.copied;
      }, function () { input.select(); });
    });
  });
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  var radios = document.querySelectorAll("input[name=on_behalf]");
  var customer = document.querySelectorAll(".customer-only");
  function sync() {
    var me = document.querySelector("input[name=on_behalf][value=self]:checked") !== null;
    customer.forEach(function (el) { el.hidden = me; });
  }
  radios.forEach(function (r) { r.addEventListener("change", sync); });
  if (radios.length) { sync(); }
  // A link to a folded section ("answer them") opens it and puts the cursor in it.
  function openTarget() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
      var field = target.querySelector("textarea, input:not([type=hidden])");
      if (field) { field.focus(); }
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  // The preview: step through each recipient's message without reloading.
  document.querySelectorAll("[data-recipients]").forEach(function (box) {
    var items = box.querySelectorAll(".recipient");
    var status = box.querySelector(".recipient-status");
    var index = 0;
    function show(i) {
      index = (i + items.length) % items.length;
      items.forEach(function (el, j) { el.hidden = j !== index; });
      if (status) { status.textContent = status.dataset.template.replace("{n}", index + 1).replace("{total}", items.length); }
    }
    box.querySelectorAll("[data-step]").forEach(function (b) {
      b.hidden = items.length < 2;
      b.addEventListener("click", function () { show(index + Number(b.dataset.step)); });
    });
    show(0);
  });
})();
