// A WebSocket to the server that stays open: after a drop (a restarted server, a network blip) it reconnects with
// exponential backoff and jitter, and never gives up while the page is open. The server answers every connect
// with the current state, so nothing is missed across a reconnect.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class LiveSocket {
  constructor(path, { onMessage, onOpen = () => {}, indicator = null }) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.url = `${scheme}://${location.host}${path}`;
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.indicator = indicator;
    this.delay = FIRST_DELAY_MS;
    this.socket = null;
  }

  show(state, text) {
    if (!this.indicator) return;
    this.indicator.dataset.state = state;
    this.indicator.textContent = text;
  }

  open() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.delay = FIRST_DELAY_MS;
      this.show("open", "live");
      this.onOpen(socket);
    });
    socket.addEventListener("message", (message) => this.onMessage(JSON.parse(message.data)));
    socket.addEventListener("close", () => {
      const wait = this.delay * (0.75 + Math.random() / 2);
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      this.show("reconnecting", "reconnecting…");
      setTimeout(() => this.open(), wait);
    });
  }

  send(data) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(data));
  }
}
