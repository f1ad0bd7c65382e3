'use strict';
// vicadmin's page: plain DOM and fetch, no framework, nothing from outside the endpoint.

const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (response.status === 401) { location.href = '/login'; throw new Error('logged out'); }
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

async function loadVch() {
  const vch = await getJson('/api/vch');
  document.title = `vicadmin — ${vch.name}`;
  $('#vch-name').textContent = vch.name;
  const states = Object.entries(vch.containers).map(([s, n]) => `${n} ${s}`).join(', ') || 'no containers';
  $('#vch-line').textContent = `${vch.backend} backend · ${vch.version} · ${states} · ${vch.images} images`;
  $('#user').textContent = vch.user;
  const body = $('#settings tbody');
  body.replaceChildren();
  const rows = [['VCH id', vch.id], ['Endpoint up since', new Date(vch.startedAt).toLocaleString()],
    ['Pool limit', `${vch.poolCpus} vCPUs, ${bytes(vch.poolMemoryBytes)}`], ['ContainerVM kernel', vch.containerVmKernel],
    ...vch.settings.map((p) => [p.key, p.value]), ...vch.backendDetails.map((p) => [p.key, p.value])];
  for (const [key, value] of rows.filter(([, value]) => value)) {
    const tr = element('tr');
    tr.append(element('td', key), element('td', value));
    body.append(tr);
  }
  const warnings = $('#warnings');
  warnings.hidden = vch.warnings.length === 0;
  warnings.replaceChildren(...vch.warnings.map((w) => element('p', w)));
}

let selected = null;

async function loadContainers() {
  const rows = await getJson('/api/containers');
  $('#container-count').textContent = `(${rows.length})`;
  const body = $('#containers tbody');
  body.replaceChildren();
  for (const c of rows) {
    const tr = element('tr');
    tr.dataset.id = c.id;
    tr.dataset.name = c.name;
    if (c.id === selected) tr.classList.add('selected');
    const state = element('td');
    state.append(element('span', c.state === 'exited' ? `exited (${c.exitCode})` : c.state, `state ${c.state}`));
    tr.append(element('td', c.name), state, element('td', c.image), element('td', c.addresses.join(', ')),
      element('td', c.ports.join(', ')), element('td', String(c.cpus)), element('td', bytes(c.memoryBytes)),
      element('td', c.vmName ?? ''), element('td', c.provisioning ?? ''));
    tr.addEventListener('click', () => showOutput(c.id, c.name));
    body.append(tr);
  }
  if (rows.length === 0) {
    const tr = element('tr');
    const td = element('td', 'No containers yet: docker run one.', 'muted');
    td.colSpan = 9;
    tr.append(td);
    body.append(tr);
  }
}

async function showOutput(id, name) {
  selected = id;
  for (const tr of document.querySelectorAll('#containers tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
  $('#output').hidden = false;
  $('#output-name').textContent = name;
  const pre = $('#output-text');
  try {
    const chunks = await getJson(`/api/containers/${encodeURIComponent(id)}/logs?tail=500`);
    pre.textContent = chunks.map((c) => c.text).join('') || '(no output yet)';
  } catch (error) {
    pre.textContent = `(${error.message})`;
  }
  pre.scrollTop = pre.scrollHeight;
}

async function loadUsage() {
  const usage = await getJson('/api/usage');
  const samples = usage.samples;
  const last = samples[samples.length - 1];
  const figures = $('#usage-now');
  figures.replaceChildren();
  if (last) {
    for (const [label, value] of [['running ContainerVMs', String(last.runningVms)],
      ['vCPUs', `${last.cpus} / ${usage.limit.cpus}`], ['memory', `${bytes(last.memoryBytes)} / ${bytes(usage.limit.memoryBytes)}`]]) {
      const span = element('span');
      span.append(element('b', value), document.createTextNode(` ${label}`));
      figures.append(span);
    }
  }
  drawChart(samples, usage.limit);
}

function drawChart(samples, limit) {
  const svg = $('#usage-chart');
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  const width = 600, height = 160, pad = 4;
  for (const share of [0.25, 0.5, 0.75]) {
    const y = height - pad - share * (height - 2 * pad);
    const line = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: width, y1: y, y2: y, stroke: '#e4e8ec' }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  if (samples.length === 0) return;
  const t0 = new Date(samples[0].time).getTime();
  const span = Math.max(1, new Date(samples[samples.length - 1].time).getTime() - t0);
  const series = [['cpus', limit.cpus, '#0f62ac'], ['memoryBytes', limit.memoryBytes, '#d9822b']];
  for (const [field, max, color] of series) {
    const points = samples.map((s) => {
      const x = samples.length === 1 ? width : ((new Date(s.time).getTime() - t0) / span) * width;
      const y = height - pad - Math.min(1, s[field] / Math.max(1, max)) * (height - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    if (points.length === 1) points.unshift(`0,${points[0].split(',')[1]}`);
    const line = document.createElementNS(ns, 'polyline');
    Object.entries({ points: points.join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
}

function followEndpointLog() {
  const pre = $('#endpoint-log');
  const source = new EventSource('/api/log');
  source.onmessage = (event) => {
    const line = JSON.parse(event.data);
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(`${line.time.replace(/\.\d+/, '')} ${line.level}: ${line.category}[${line.eventId}] ${line.message}\n`);
    while (pre.childNodes.length > 2000) pre.removeChild(pre.firstChild);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };
}

async function refresh() {
  await Promise.allSettled([loadVch(), loadContainers(), loadUsage()]);
  if (selected) {
    const row = document.querySelector(`#containers tbody tr[data-id="${selected}"]`);
    if (row) await showOutput(selected, row.dataset.name);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  refresh();
  followEndpointLog();
  setInterval(refresh, 5000);
});
