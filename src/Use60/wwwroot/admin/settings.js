// The persona preview follows the profile form as it is typed: the form (with its antiforgery token) is posted to the
// page's Preview handler, which compiles the persona without saving anything.
(function () {
  const form = document.getElementById('profile-form');
  const preview = document.getElementById('persona-preview');
  const state = document.querySelector('[data-field=preview-state]');
  if (!form || !preview) return;
  document.querySelectorAll('.no-script-only').forEach(e => e.hidden = true);
  let timer = null, sent = 0;
  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++sent;
      try {
        const response = await fetch(form.dataset.preview, { method: 'POST', body: new FormData(form), credentials: 'same-origin' });
        if (!response.ok || mine !== sent) return;
        preview.textContent = await response.text();
        state.textContent = 'unsaved changes';
      } catch { /* offline: the preview stays as it was */ }
    }, 300);
  });
})();
