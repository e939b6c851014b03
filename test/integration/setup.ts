// Unhandled rejections inside integration tests are failures, not noise.
process.on('unhandledRejection', (reason) => {
  throw reason instanceof Error ? reason : new Error(String(reason));
});
