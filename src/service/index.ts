/** `vessel up`'s service socket: the line protocol the container monitors speak, and its server. */
export { SERVICE_PROTOCOL, LINE_MAX, parseHello, parseRequest, formatReply, type Hello, type Request, type Reply } from './protocol.js';
export { startService, type Service, type ServiceHandler, type Session } from './server.js';
export { escapeText, unescapeText, textOf, parseCliLine, formatOutcome, formatOutput, type CliRequest, type CliStream, type CliOutcome, type CliHandler, type CliLine } from './cli.js';
