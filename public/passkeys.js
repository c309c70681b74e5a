// Passkeys (WebAuthn) in the browser: asks the server for options, lets the browser talk to the
// authenticator through SimpleWebAuthnBrowser (/static/simplewebauthn-browser.js), and posts the answer
// back. Loaded only on pages that offer passkeys; no inline script anywhere (strict CSP).
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;

  function post(url, csrf, fields) {
    var body = new URLSearchParams();
    body.set('_csrf', csrf);
    Object.keys(fields || {}).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: body,
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) { return { ok: res.ok, json: json }; });
    });
  }

  function showError(scope, message) {
    var el = scope.querySelector('[data-passkey-error]') || document.querySelector('[data-passkey-error]');
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }

  function failure(err) {
    if (err && err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
    if (err && err.name === 'InvalidStateError') return 'This passkey is registered already.';
    return (err && err.message) || 'The passkey did not work. Try again.';
  }

  function supported() {
    return !!(lib && lib.browserSupportsWebAuthn && lib.browserSupportsWebAuthn());
  }

  document.querySelectorAll('[data-needs-js]').forEach(function (el) {
    if (supported()) el.hidden = true;
    else el.textContent = 'This browser cannot use passkeys.';
  });
  if (!supported()) return;
  document.querySelectorAll('[data-passkey-register], [data-passkey-authenticate]').forEach(function (el) { el.hidden = false; });

  document.addEventListener('submit', function (event) {
    var form = event.target.closest && event.target.closest('[data-passkey-register]');
    if (!form) return;
    event.preventDefault();
    var scope = form.parentElement;
    var csrf = form.getAttribute('data-csrf');
    var nameInput = form.querySelector('input[name=passkeyName]');
    post(form.getAttribute('data-options-url'), csrf)
      .then(function (r) {
        if (r.json.reauth) { window.location.assign(r.json.reauth); return null; }
        if (!r.ok) throw new Error((r.json.error && r.json.error.message) || 'Could not start.');
        return lib.startRegistration({ optionsJSON: r.json });
      })
      .then(function (attestation) {
        if (!attestation) return null;
        return post(form.getAttribute('data-verify-url'), csrf, { name: nameInput ? nameInput.value : '', response: JSON.stringify(attestation) });
      })
      .then(function (r) {
        if (!r) return;
        if (!r.ok) throw new Error((r.json.error && r.json.error.message) || 'The passkey was not accepted.');
        window.location.assign(r.json.redirect || window.location.pathname);
      })
      .catch(function (err) { showError(scope, failure(err)); });
  });

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-passkey-authenticate]');
    if (!button) return;
    event.preventDefault();
    var scope = button.parentElement;
    var csrf = button.getAttribute('data-csrf');
    button.disabled = true;
    post(button.getAttribute('data-options-url'), csrf)
      .then(function (r) {
        if (!r.ok) throw new Error((r.json.error && r.json.error.message) || 'Could not start.');
        return lib.startAuthentication({ optionsJSON: r.json });
      })
      .then(function (assertion) {
        return post(button.getAttribute('data-verify-url'), csrf, { response: JSON.stringify(assertion), next: button.getAttribute('data-next') || '' });
      })
      .then(function (r) {
        if (!r.ok) throw new Error((r.json.error && r.json.error.message) || 'The passkey was not accepted.');
        window.location.assign(r.json.redirect || '/');
      })
      .catch(function (err) {
        button.disabled = false;
        showError(scope, failure(err));
      });
  });
})();
