// mirror-registry console: copy buttons and confirmations. Every page works without this file;
// it is loaded from /ui/assets because the Content-Security-Policy allows no inline script.
'use strict';

function copied(button) {
  const label = button.textContent;
  button.textContent = 'Copied';
  button.dataset.copied = 'true';
  setTimeout(() => { button.textContent = label; }, 1500);
}

// Clipboard API where the page is a secure context, else a selection and execCommand.
function copy(button) {
  const text = button.dataset.copy;
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => copied(button), () => copyBySelection(button, text));
  } else {
    copyBySelection(button, text);
  }
}

function copyBySelection(button, text) {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.appendChild(area);
  area.select();
  try { document.execCommand('copy'); } catch (_) { /* the text stays visible to copy by hand */ }
  area.remove();
  copied(button);
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button.copy');
  if (button) {
    event.preventDefault();
    copy(button);
  }
});

// Buttons with data-confirm ask before their form is sent.
document.addEventListener('submit', (event) => {
  const button = event.submitter;
  const question = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
