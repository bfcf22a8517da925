const Sequencer = require('@jest/test-sequencer').default;

/**
 * Files run in path order, on every machine. Jest's own order puts last run's failures and its
 * slowest files first, from a timing cache kept outside the checkout: with one shared database
 * and Temporal namespace, two machines then ran different sequences, and a fresh clone here could
 * not reproduce what CI saw. Run in band, the order costs nothing.
 */
class PathOrder extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

module.exports = PathOrder;
