// Gatehouse: the little behaviour htmx does not cover. No inline handlers anywhere (strict CSP).
(function () {
  'use strict';

  // Confirmation dialogs: htmx loads the confirmation into #modal-content; show it as a modal dialog.
  document.addEventListener('htmx:after:swap', function (event) {
    var modal = document.getElementById('modal');
    var content = document.getElementById('modal-content');
    if (!modal || !content) return;
    if (event.target !== content && !content.contains(event.target)) return;
    if (content.firstElementChild && !modal.open) modal.showModal();
    var first = content.querySelector('input:not([type=hidden]):not([type=radio]), button, a');
    if (first) first.focus();
  });

  // "Cancel" in a dialog closes it instead of navigating away.
  document.addEventListener('click', function (event) {
    var close = event.target.closest && event.target.closest('[data-close-dialog]');
    if (!close) return;
    var dialog = close.closest('dialog');
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });
  document.addEventListener('close', function (event) {
    if (event.target.id === 'modal') document.getElementById('modal-content').innerHTML = '';
  }, true);

  // In a dual list, Enter in a search box searches instead of submitting the whole form.
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Enter') return;
    var input = event.target;
    if (!input.matches || !input.matches('.dual-list input[type=search]')) return;
    event.preventDefault();
    input.dispatchEvent(new Event('search', { bubbles: true }));
  });

  // Leaving a page with unsaved dual-list moves asks first.
  var submitting = false;
  document.addEventListener('submit', function () { submitting = true; });
  document.addEventListener('htmx:before:request', function () { submitting = false; });
  window.addEventListener('beforeunload', function (event) {
    if (submitting) return;
    if (document.querySelector('.dual-list[data-dirty="true"]')) {
      event.preventDefault();
      event.returnValue = '';
    }
  });
})();
