// '@telepresence/tunnel/testing': an in-memory channel pair and the accepting end of a stream on it, for
// other packages' unit tests of code that answers tunnels; kept out of the package's main entry.
export { memoryChannelPair } from './protocol/memory-channel.js';
export { acceptStream } from './protocol/stream.js';
