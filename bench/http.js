// The benchmarks' HTTP client: node:http over kept-alive connections. The client shares the two
// cores with the processes it measures, and fetch cost it 2.4–2.7× the CPU per call (263–396
// against 110–148 µs, 32 callers posting JSON to a bare node:http server, alternating).
const http = require('node:http');

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Sends `body` (JSON, when given) and resolves with the status and the answer's text. */
function request(url, { method = 'GET', headers = {}, body } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const sent = payload === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: sent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** `request`, answering the parsed JSON; any status of 300 or more fails it with the answer's start. */
async function requestJson(url, options = {}) {
  const { status, text } = await request(url, options);
  if (status >= 300) throw new Error(`${options.method ?? 'GET'} ${url} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

module.exports = { request, requestJson };
