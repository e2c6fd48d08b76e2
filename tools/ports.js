// Local TCP ports, for `npm start` and the tests that start servers of their own.
const net = require('node:net');

/** Whether something accepts connections on the port. */
function answers(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host, timeout: 500 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

/** `preferred` when nothing answers on it, else a port nothing listens on now (any, without one). */
async function freePort(preferred) {
  if (preferred !== undefined && !(await answers(preferred))) return preferred;
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { answers, freePort };
