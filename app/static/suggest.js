// "Is it one of these?" while typing: similar open problems from /suggest, debounced.
// Without JavaScript the server asks the same question as a confirmation step.
(function () {
  "use strict";
  var box = document.getElementById("suggestions");
  var text = document.getElementById("text");
  var choice = document.getElementById("problem_choice");
  var seen = document.getElementById("suggestions_seen");
  if (!box || !text || !choice || !seen) return;
  var timer = null, last = "", controller = null;

  function render(items) {
    box.textContent = "";
    if (!items.length) { if (!choice.value || choice.value === "new") seen.value = ""; return; }
    seen.value = "1";
    var heading = document.createElement("p");
    heading.className = "suggestions-heading";
    // The words come translated from the page (data-heading, data-me-too on #suggestions).
    heading.textContent = box.dataset.heading ||
      "Is it one of these? Choose one if it is happening to you too; your words are still saved.";
    box.appendChild(heading);
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "suggestion";
      button.setAttribute("aria-pressed", String(choice.value === String(item.id)));
      button.textContent = (box.dataset.meToo || "This is happening to me too: %(title)s").replace("%(title)s", function () { return item.title; });
      button.addEventListener("click", function () {
        var on = button.getAttribute("aria-pressed") !== "true";
        list.querySelectorAll("button.suggestion").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
        button.setAttribute("aria-pressed", String(on));
        choice.value = on ? String(item.id) : "new";
      });
      li.appendChild(button);
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  function lookUp() {
    var value = text.value.trim();
    if (value === last) return;
    last = value;
    if (value.length < 12) { render([]); return; }
    if (controller) controller.abort();
    controller = new AbortController();
    fetch(box.dataset.suggestUrl + "?text=" + encodeURIComponent(value),
          { headers: { "Accept": "application/json" }, signal: controller.signal, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (data) { render(data.suggestions || []); })
      .catch(function () {});
  }

  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookUp, 400);
  });
  if (!choice.value) choice.value = "";
})();
