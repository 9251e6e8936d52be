// The inbox's live updates, a progressive enhancement: without this script the inbox works as a
// plain page. It listens to /inbox/events, puts each new delivery's row (rendered and escaped by
// the desk) at the top of the table, says so in the page's aria-live region and, when the officer
// has allowed it, in a browser notification that names only the category and the urgency.
(function () {
  "use strict";
  var table = document.getElementById("inbox");
  var status = document.getElementById("live-status");
  if (!table || !status || !window.EventSource) {
    return;
  }
  var body = table.tBodies[0];
  var empty = document.getElementById("inbox-empty");
  // From when the page was rendered, so nothing kept in between is missed.
  var source = new EventSource(
    "/inbox/events?since=" + encodeURIComponent(table.getAttribute("data-rendered")));

  function row(html) {
    var doc = new DOMParser().parseFromString(
      "<table><tbody>" + html + "</tbody></table>", "text/html");
    var tr = doc.querySelector("tbody > tr");
    return tr ? document.importNode(tr, true) : null;
  }

  source.addEventListener("delivery", function (e) {
    var d = JSON.parse(e.data);
    var seen = body.querySelector("tr[data-delivery=\"" + CSS.escape(d.delivery) + "\"]");
    var tr = seen ? null : row(d.row);
    if (tr) {
      body.insertBefore(tr, body.firstChild);
    }
    table.hidden = false;
    if (empty) {
      empty.hidden = true;
    }
    status.textContent = d.notice;
    if (window.Notification && Notification.permission === "granted") {
      new Notification(d.notice, { tag: d.delivery });
    }
  });

  // Some arrivals were missed: the inbox as the desk has it now.
  source.addEventListener("reload", function () {
    window.location.reload();
  });

  // Signed out, the session over, or the desk stopping: no reconnecting.
  source.addEventListener("end", function (e) {
    source.close();
    status.textContent = JSON.parse(e.data).notice;
  });

  var button = document.getElementById("notify");
  if (button && window.Notification && Notification.permission === "default") {
    button.hidden = false;
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) {
        if (answer !== "default") {
          button.hidden = true;
        }
      });
    });
  }
})();
