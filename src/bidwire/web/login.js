// The admin pages' login form and log-out button (admin.js, analytics.js): one behaviour, the
// same words. `login(username, password)` asks the page's own API helper and does what the page
// must before it starts again (analytics.js drops its WebSocket: the new cookie needs a new one).

export function bindLogin({ form, logout, say, login, start }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = form.elements;
    try {
      await login(fields.username.value.trim(), fields.password.value);
      fields.password.value = "";
      say("", "");
      await start();
    } catch (err) {
      say(err.message.replace(/^body\.\w+: /, ""), "error");
      fields.password.select();
    }
  });
  logout.addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST" }).catch(() => {});
    say("You are logged out.", "ok");
    await start();
  });
}
