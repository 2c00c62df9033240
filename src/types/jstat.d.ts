/** The part of jStat (https://github.com/jstat/jstat) that dnsrace uses: the inverse of the regularized incomplete beta. */
declare module "jstat" {
  const jstat: {
    jStat: {
      beta: {
        /** The p-quantile of Beta(alpha, beta). */
        inv(p: number, alpha: number, beta: number): number;
      };
    };
  };
  export default jstat;
}
