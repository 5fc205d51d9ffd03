/**
 * Errors of dialing through Tor's SOCKS5 port (node/tor/socks-transport.ts).
 * Each has a fixed `name` for code to match on; the message is a sentence
 * that says what to do.
 */

/** Nothing answers on Tor's SOCKS port: tor is not running there, or the address is wrong. */
export class TorNotRunningError extends Error {
  constructor (readonly proxy: string, options?: ErrorOptions) {
    super(`Nothing answers on Tor's SOCKS port ${proxy}: start tor (or Tor Browser, whose port is 9150), ` +
      'and check --tor-socks, tor\'s SocksPort and that DisableNetwork is 0', options)
    this.name = 'TorNotRunningError'
  }
}

/**
 * The SOCKS proxy refused the request itself: it wants other credentials,
 * does not speak SOCKS5, or its rules forbid the connection. Komrade uses a
 * distinct username and password per peer (Tor's IsolateSOCKSAuth), which
 * Tor accepts whatever they are; a proxy that checks them is not Tor.
 */
export class SocksRefusedError extends Error {
  constructor (readonly proxy: string, readonly reason: string, readonly replyCode?: number, options?: ErrorOptions) {
    super(`The SOCKS proxy at ${proxy} refused the request (${reason}): --tor-socks must name Tor's SocksPort ` +
      '(usually 127.0.0.1:9050, Tor Browser 127.0.0.1:9150), not its control port or another proxy', options)
    this.name = 'SocksRefusedError'
  }
}

/** Tor could not reach the onion service: it is offline, gone, or Tor has no circuits yet. */
export class OnionUnreachableError extends Error {
  constructor (readonly address: string, readonly reason: string, readonly replyCode?: number, options?: ErrorOptions) {
    super(`Tor could not reach ${address} (${reason}): the peer may be offline, or tor is not connected to the ` +
      'Tor network yet (see tor\'s log); Komrade tries again later', options)
    this.name = 'OnionUnreachableError'
  }
}

/** The SOCKS proxy could not reach a non-onion address (tor-only mode dials loopback addresses through it too). */
export class SocksUnreachableError extends Error {
  constructor (readonly address: string, readonly reason: string, readonly replyCode?: number, options?: ErrorOptions) {
    super(`The SOCKS proxy could not reach ${address} (${reason}): check that the peer is running at that address`, options)
    this.name = 'SocksUnreachableError'
  }
}
