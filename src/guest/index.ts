/**
 * guest: the guest OS that runs in vCPU workers (DESIGN §3). Its only public
 * surface for other layers. So far: the network stack (net/); the driver,
 * scheduler and applications will add their exports here.
 */
export * from './net/index.js';
